import cv2
import numpy as np
import pytest

from vidlong.eval.metrics import (
    DIRECTION,
    color_consistency,
    compute_all,
    dynamic_degree,
    flow_magnitude,
    high_frequency_ratio,
    motion_smoothness,
    optical_flow,
    repetition_score,
    sharpness,
    structure_consistency,
    temporal_flicker,
)


def _texture(h, w, sigma=2.0, seed=0):
    """Smooth random grey texture, uint8 [h, w, 3] spanning 0..255."""
    noise = cv2.GaussianBlur(np.random.default_rng(seed).random((h, w)), (0, 0), sigma)
    grey = np.round(255 * (noise - noise.min()) / np.ptp(noise)).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def _moving_square(speed, t=10, size=96, side=24):
    """A textured square moving right at ``speed`` px/frame over a static mid-grey background."""
    patch = _texture(side, side, seed=1)
    frames = np.full((t, size, size, 3), 128, np.uint8)
    for i in range(t):
        x = 8 + i * speed
        frames[i, 36 : 36 + side, x : x + side] = patch
    return frames


def _static(t=10):
    return np.repeat(_texture(64, 64)[None], t, axis=0)


def test_static_clip_has_no_motion():
    frames = _static()
    assert flow_magnitude(frames) < 0.01
    assert dynamic_degree(frames) == 0.0
    assert temporal_flicker(frames) < 0.1
    assert motion_smoothness(frames) == pytest.approx(1.0, abs=1e-3)
    assert structure_consistency(frames) == pytest.approx(1.0)
    assert color_consistency(frames) == pytest.approx(1.0)


@pytest.mark.parametrize("speed", [2, 4])
def test_flow_on_a_moving_square_equals_its_speed(speed):
    frames = _moving_square(speed)
    flow = optical_flow(frames)
    on_square = np.stack([flow[i, 36:60, 8 + i * speed : 32 + i * speed] for i in range(len(flow))])
    assert np.linalg.norm(on_square, axis=-1).mean() == pytest.approx(speed, rel=0.1)
    assert on_square[..., 0].mean() == pytest.approx(speed, rel=0.1)  # moving right
    assert dynamic_degree(frames, flow, threshold=speed / 2) == 1.0
    assert dynamic_degree(frames, flow, threshold=speed * 2) == 0.0


def test_loop_repeats_at_its_period():
    period = 12
    one_period = _moving_square(speed=3, t=period)
    frames = np.concatenate([one_period] * 4)
    score, lag = repetition_score(frames, native_frames=8)
    assert lag == period
    assert score == pytest.approx(1.0)

    no_loop = _moving_square(speed=1, t=len(frames), size=96)
    assert repetition_score(no_loop, native_frames=8)[0] < score - 0.3


def test_repetition_needs_a_lag_past_the_native_window():
    score, lag = repetition_score(_static(t=10), native_frames=8)
    assert np.isnan(score) and lag == 0
    assert repetition_score(_static(t=20), native_frames=8)[0] == 0.0  # a static clip does not loop


def test_blur_lowers_sharpness_and_high_frequencies():
    sharp = np.stack([_texture(64, 64, sigma=0.7, seed=s) for s in range(3)])
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in sharp])
    assert sharpness(blurred) < 0.5 * sharpness(sharp)
    assert high_frequency_ratio(blurred) < 0.5 * high_frequency_ratio(sharp)


def test_noise_flickers_more_than_smooth_motion():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    smooth = _moving_square(speed=2, t=8)
    assert temporal_flicker(smooth) < 2.0
    assert temporal_flicker(noise) > 10 * temporal_flicker(smooth)


def test_shuffled_motion_is_less_smooth():
    frames = _moving_square(speed=2, t=12)
    shuffled = frames[np.random.default_rng(0).permutation(len(frames))]
    assert motion_smoothness(shuffled) < motion_smoothness(frames) - 0.01


def test_consistency_drops_when_content_changes():
    static = _static()
    drifting = static.copy()
    drifting[..., 0] = np.linspace(0, 255, len(static), dtype=np.uint8)[:, None, None]  # red ramps up
    swapped = np.concatenate([static[:5], np.repeat(_texture(64, 64, seed=7)[None], 5, axis=0)])
    assert color_consistency(drifting) < 0.9
    assert structure_consistency(swapped) < 0.9


def test_compute_all_reports_every_metric():
    frames = np.concatenate([_moving_square(speed=3, t=12)] * 2)
    results = compute_all(frames, native_frames=8)
    assert results.keys() == DIRECTION.keys()
    assert all(np.isfinite(v) for v in results.values())
    assert results["repetition_lag"] == 12


def test_rejects_non_uint8_frames():
    with pytest.raises(ValueError, match="uint8"):
        sharpness(_static().astype(np.float32))
