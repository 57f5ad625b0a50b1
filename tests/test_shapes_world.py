"""The shapes-world generator: deterministic, with ground truth that matches the pixels."""

import numpy as np
import pytest

from training import shapes_world as sw


def test_same_seed_same_clip_different_seed_different_clip():
    a = sw.make_clip(3, 7)
    b = sw.make_clip(3, 7)
    c = sw.make_clip(3, 8)
    assert a.frames.dtype == np.uint8 and a.frames.shape == (33, 128, 128, 3)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.prompt == b.prompt
    assert not np.array_equal(a.frames, c.frames)


@pytest.mark.parametrize("shape", [(9, 64, 96), (49, 128, 128)])
def test_any_length_and_resolution(shape):
    t, h, w = shape
    clip = sw.make_clip(0, 1, num_frames=t, height=h, width=w)
    assert clip.frames.shape == (t, h, w, 3)
    for obj in clip.objects:
        assert obj.centers.shape == (t, 2)
        assert (obj.centers[:, 0] >= 0).all() and (obj.centers[:, 0] <= w).all()
        assert (obj.centers[:, 1] >= 0).all() and (obj.centers[:, 1] <= h).all()


def test_ground_truth_matches_pixels():
    for i in range(10):
        clip = sw.make_clip(11, i)
        assert 1 <= len(clip.objects) <= 3
        assert len(set(clip.colours)) == len(clip.colours)  # colours are distinct
        for obj in clip.objects:
            assert obj.colour in clip.prompt
            rgb = np.array(sw.PALETTE[obj.colour])
            for t in (0, 16, 32):
                x, y = obj.centers[t]
                if obj.visible_area[t] < 0.9 * obj.visible_area.max():
                    continue  # partly covered by a later object
                px = clip.frames[t, int(y), int(x)].astype(int)
                assert np.abs(px - rgb).max() <= 2, (clip.prompt, obj.colour, t, px)


def test_constant_velocity_and_bounces():
    clip = sw.make_clip(5, 2, num_frames=200)
    for obj in clip.objects:
        v = np.diff(obj.centers, axis=0)
        speed = np.linalg.norm(v, axis=-1)
        # the speed is constant except across a bounce (one reflected component)
        assert np.median(np.abs(speed - np.median(speed))) < 1e-3
        flips = (np.sign(v[1:]) != np.sign(v[:-1])).any(-1).sum()
        assert flips >= 1  # over 200 frames every object meets a wall


def test_backgrounds_are_neutral_and_palette_is_saturated():
    import colorsys

    for name, rgb in sw.PALETTE.items():
        h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
        assert s > 0.8 and v > 0.8, name
    for tone in sw.BACKGROUND_TONES.values():
        assert 0 <= tone <= 255
    clip = sw.make_clip(0, 0)
    corner = clip.frames[:, 0, 0].astype(int)
    assert (corner.max(-1) - corner.min(-1) <= 1).all()  # grey: no hue


def test_prompt_words_are_in_the_vocabulary():
    vocab = set(sw.VOCABULARY)
    for i in range(50):
        prompt = sw.make_clip(1, i, num_frames=2, height=32, width=32).prompt
        words = prompt.replace(",", " , ").split()
        assert set(words) <= vocab, prompt
