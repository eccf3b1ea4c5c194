"""The speech front end and keyword networks (`keras_rnnzoo.zoo.audio`), every backend."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_rnnzoo.zoo import audio


def test_log_mel_matches_a_numpy_reference():
    rng = np.random.default_rng(0)
    waveform = (0.1 * rng.standard_normal(4000)).astype(np.float32)
    layer = audio.LogMelSpectrogram()
    got = keras.ops.convert_to_numpy(layer.log_mel(waveform[None]))[0]
    frames = np.stack([waveform[i * 160 : i * 160 + 480] for i in range(4000 // 160 - 2)])
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(480) / 480)
    power = np.abs(np.fft.rfft(frames * window, n=512)) ** 2
    expected = np.log(power @ audio.mel_matrix() + audio.LOG_FLOOR)
    assert got.shape == (23, 40)
    np.testing.assert_allclose(got, expected, atol=2e-3, rtol=1e-3)


def test_log_mel_shapes_and_normalization():
    layer = audio.LogMelSpectrogram()
    assert layer(np.zeros((2, 16000), "float32")).shape == (2, 98, 40)
    assert layer(np.zeros((1, 16100), "float32")).shape == (1, 98, 40)  # trailing partial hop ignored
    assert layer.compute_output_shape((None, 16000)) == (None, 98, 40)
    x = np.random.default_rng(1).standard_normal((1, 8000)).astype("float32")
    raw = keras.ops.convert_to_numpy(layer.log_mel(x))
    layer.set_statistics(np.full(40, 2.0), np.full(40, 4.0))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), (raw - 2.0) / 4.0, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="positive std"):
        layer.set_statistics(np.zeros(40), np.zeros(40))
    with pytest.raises(ValueError, match="multiple of hop"):
        audio.LogMelSpectrogram(window=400, hop=160)


def test_mel_matrix_is_a_filterbank():
    mel = audio.mel_matrix()
    assert mel.shape == (257, 40) and (mel >= 0).all() and (mel.max(axis=0) > 0.5).all()
    centers = mel.argmax(axis=0)
    assert (np.diff(centers) >= 0).all()


def test_spec_augment_masks_only_in_training():
    layer = audio.SpecAugment(freq_masks=1, max_freq_width=5, time_masks=1, max_time_width=8, seed=3)
    x = np.ones((4, 50, 40), "float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    masked = keras.ops.convert_to_numpy(layer(x, training=True))
    assert set(np.unique(masked)) <= {0.0, 1.0}
    zero_fraction = 1 - masked.mean()
    assert 0 < zero_fraction < (5 / 40 + 8 / 50)


def test_spec_augment_frequency_warp():
    """Each example's bands are stretched by its own factor; a linear ramp stays a ramp."""
    layer = audio.SpecAugment(freq_masks=0, time_masks=0, max_warp=0.2, seed=4)
    ramp = np.broadcast_to(np.arange(40, dtype="float32"), (6, 10, 40)).copy()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(ramp)), ramp)
    warped = keras.ops.convert_to_numpy(layer(ramp, training=True))
    slopes = warped[:, 0, 1] - warped[:, 0, 0]  # = the example's factor while below the top band
    assert ((slopes >= 0.8 - 1e-5) & (slopes <= 1.2 + 1e-5)).all() and np.ptp(slopes) > 0.01
    np.testing.assert_allclose(warped[:, :, :20], np.broadcast_to(np.arange(20) * slopes[:, None, None], (6, 10, 20)), rtol=1e-5)
    assert (warped <= 39.0 + 1e-5).all()  # clamped at the top band
    np.testing.assert_array_equal(warped[:, 0], warped[:, -1])  # same warp on every frame
    assert audio.SpecAugment.from_config(layer.get_config()).max_warp == 0.2
    with pytest.raises(ValueError, match="max_warp"):
        audio.SpecAugment(max_warp=1.5)


def test_frame_stack():
    x = np.arange(2 * 5 * 3, dtype="float32").reshape(2, 5, 3)
    y = keras.ops.convert_to_numpy(audio.FrameStack(2)(x))
    assert y.shape == (2, 2, 6)
    np.testing.assert_array_equal(y[0, 1], np.concatenate([x[0, 2], x[0, 3]]))
    with pytest.raises(ValueError, match="positive"):
        audio.FrameStack(0)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_streaming_model_reproduces_the_batch_model(cell):
    keras.utils.set_random_seed(0)
    model = audio.build_keyword_model(cell=cell, units=12, layers=2)
    model.get_layer("log_mel").set_statistics(np.full(40, -5.0), np.full(40, 3.0))
    x = (0.1 * np.random.default_rng(0).standard_normal((2, 8000))).astype("float32")
    expected = model.predict(x, verbose=0)
    streaming = audio.build_streaming_model(model)
    hop = 320
    context, states = x[:, :320], [np.zeros((2, n), "float32") for n in audio.state_sizes(model)]
    for start in range(320, 8000 - hop + 1, hop):
        outputs = [keras.ops.convert_to_numpy(o) for o in streaming([x[:, start : start + hop], context, *states])]
        probabilities, context, states = outputs[0], outputs[1], outputs[2:]
    # the batch model's frames start at sample 0; the stream's first window does too
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


def test_unrolled_copy_and_settings():
    model = audio.build_keyword_model(cell="gru", units=8, layers=1, dropout=0.2)
    assert audio.model_settings(model) == {"cell": "gru", "units": 8, "layers": 1, "num_classes": 12,
                                           "dropout": 0.2, "stack": 2}
    x = (0.1 * np.random.default_rng(2).standard_normal((1, 16000))).astype("float32")
    unrolled = audio.build_unrolled_model(model)
    np.testing.assert_allclose(unrolled.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    with pytest.raises(ValueError, match="fixed number of samples"):
        audio.build_keyword_model(unroll=True)


def test_model_round_trips_through_keras_file(tmp_path):
    model = audio.build_keyword_model(cell="gru", units=8, layers=1)
    model.get_layer("log_mel").set_statistics(np.full(40, 1.0), np.full(40, 2.0))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = (0.1 * np.random.default_rng(3).standard_normal((1, 16000))).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
