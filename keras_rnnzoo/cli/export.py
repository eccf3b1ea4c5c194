"""`rnnzoo export NAME --format {keras,saved_model,tflite,onnx} OUT`."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from keras_rnnzoo.cli.app import app, console, json_option, print_json

FORMATS = ("keras", "saved_model", "tflite", "onnx")


def unrolled_copy(model):
    """The same model with every recurrent layer unrolled (fixed-length inputs only).

    TFLite converts an unrolled RNN to builtin ops; a loop needs Flex ops that
    the standard interpreter cannot run.
    """
    import keras

    def unroll(config):
        if isinstance(config, dict):
            if "unroll" in config and isinstance(config["unroll"], bool):
                config["unroll"] = True
            for value in config.values():
                unroll(value)
        elif isinstance(config, list):
            for value in config:
                unroll(value)

    config = keras.saving.serialize_keras_object(model)
    unroll(config)
    clone = keras.saving.deserialize_keras_object(config, safe_mode=True)
    clone.set_weights(model.get_weights())
    return clone


@app.command()
@click.argument("name")
@click.option("--format", "export_format", type=click.Choice(FORMATS), required=True, help="Output format.")
@click.argument("out", type=click.Path(dir_okay=True, file_okay=True))
@json_option
def export(name: str, export_format: str, out: str, json_output: bool) -> None:
    """Export the Keras model of preset NAME to OUT (a file, or a folder for saved_model)."""
    import keras

    from keras_rnnzoo import zoo

    task = zoo.load(name)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    backend = keras.backend.backend()
    if export_format == "keras":
        if out_path.suffix != ".keras":
            raise click.BadParameter(f"a Keras file name must end in .keras; got {out!r}", param_hint="OUT")
        shutil.copyfile(task.folder / "model.keras", out_path)
    elif export_format == "saved_model":
        if backend == "torch":
            raise RuntimeError("saved_model export needs KERAS_BACKEND=tensorflow or jax (it is running on torch).")
        task.model.export(str(out_path), format="tf_saved_model", verbose=False)
    elif export_format == "tflite":
        if backend != "tensorflow":
            raise RuntimeError(f"tflite export runs on KERAS_BACKEND=tensorflow (it is running on {backend}).")
        if hasattr(task, "export_tflite"):  # task-specific variants (e.g. the keyword spotter's streaming model)
            extra_outputs = task.export_tflite(out_path)
        else:
            _export_tflite(unrolled_copy(task.model), out_path)
    else:
        _export_onnx(task.model, out_path, backend)
    payload = {"name": task.name, "format": export_format, "output": str(out_path)}
    if export_format == "tflite" and hasattr(task, "export_tflite"):
        payload["outputs"] = extra_outputs
    if json_output:
        print_json(payload)
    else:
        console.print(f"exported {task.name} as {export_format} to {out_path}")


def _export_tflite(model, out_path: Path) -> None:
    import tempfile

    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        model.export(folder, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        out_path.write_bytes(converter.convert())


def _export_onnx(model, out_path: Path, backend: str) -> None:
    """Export through Keras's ONNX exporter; the file appears only if ONNX accepts the graph."""
    import importlib.util
    import tempfile

    import keras

    needed = {"tensorflow": ("tf2onnx", "onnx"), "jax": ("tf2onnx", "onnx"), "torch": ("onnx", "onnxscript")}[backend]
    missing = [module for module in needed if importlib.util.find_spec(module) is None]
    if missing:
        raise RuntimeError(
            f"ONNX export on the {backend} backend needs {' and '.join(missing)}: "
            f"pip install {' '.join(missing)}"
        )
    import onnx

    # A model loaded from disk has never been called: give the signature explicitly.
    signature = [keras.tree.map_structure(_input_spec, model.input)]
    with tempfile.TemporaryDirectory(dir=out_path.parent) as folder:
        candidate = Path(folder) / out_path.name
        model.export(str(candidate), format="onnx", verbose=False, input_signature=signature)
        try:  # converters can emit ops that ONNX has no kernel for; refuse such a file
            onnx.checker.check_model(str(candidate), full_check=True)
        except onnx.checker.ValidationError as error:
            detail = " ".join(str(error).split())[-200:]
            raise RuntimeError(
                f"the ONNX converter produced an invalid graph for {model.name!r} on the "
                f"{backend} backend, nothing written to {out_path}: {detail}"
            ) from None
        candidate.replace(out_path)


def _input_spec(tensor):
    import keras

    return keras.InputSpec(shape=tuple(tensor.shape), dtype=tensor.dtype)
