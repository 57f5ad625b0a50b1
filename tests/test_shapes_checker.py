"""The ground-truth checker (vidlong.eval.shapes) against clips whose truth is known."""

import numpy as np

from training import shapes_world as sw
from vidlong.eval import shapes as chk


def test_shape_words_match_the_generator():
    assert set(chk.SHAPE_WORDS) == {w for syn in sw.SHAPE_SYNONYMS.values() for w in syn}


def test_parse_prompt():
    assert chk.parse_prompt("a spinning red ball, a blue box and a green triangle on a gray "
                            "background") == [("red", "circle"), ("blue", "square"),
                                              ("green", "triangle")]
    assert chk.parse_prompt("a magenta thing") == [("magenta", None)]
    assert chk.parse_prompt("a dark gray background") == []


def test_finds_the_objects_of_ground_truth_clips():
    present, shapes_ok, errors = [], [], []
    for i in range(24):
        clip = sw.make_clip(21, i)
        report = chk.check_video(clip.frames, clip.prompt)
        s = report.summary()
        present.append(s["frac_frames_all_present"])
        shapes_ok.append(s["frac_frames_all_shapes_correct"])
        assert s["frac_frames_extra_colour"] == 0.0
        assert s["colour_fidelity"] > 0.99
        assert s["vanish_events"] == 0 and s["appear_events"] == 0
        cent = report.centroids()
        for k, obj in enumerate(clip.objects):
            unoccluded = obj.visible_area >= 0.95 * obj.visible_area.max()
            err = np.linalg.norm(cent[unoccluded, k] - obj.centers[unoccluded], axis=-1)
            errors.extend(err.tolist())
    assert np.mean(present) >= 0.99
    assert np.mean(shapes_ok) >= 0.95
    assert np.max(errors) < 2.0 and np.mean(errors) < 0.5


def test_motion_statistics_are_smooth_for_ground_truth():
    clip = sw.make_clip(2, 3)
    s = chk.check_video(clip.frames, clip.prompt).summary()
    assert s["mean_accel_px"] < 1.0
    assert s["mean_speed_px"] > 0.3


def test_fails_on_blank_and_wrong_colour_videos():
    clip = sw.make_clip(4, 0, num_objects=1)
    prompt = clip.prompt
    blank = np.full_like(clip.frames, 90)
    s = chk.check_video(blank, prompt).summary()
    assert s["frac_frames_all_present"] == 0.0 and s["colour_fidelity"] == 0.0

    # repaint the object in another palette colour: present fraction drops to zero
    colour = clip.objects[0].colour
    other = next(c for c in sw.PALETTE if c != colour)
    frames = clip.frames.copy()
    mask = (np.abs(frames.astype(int) - np.array(sw.PALETTE[colour])).max(-1) < 30)
    frames[mask] = sw.PALETTE[other]
    s = chk.check_video(frames, prompt).summary()
    assert s["frac_frames_all_present"] == 0.0
    assert s["frac_frames_extra_colour"] == 1.0
    assert s["colour_fidelity"] < 0.3  # only anti-aliased edge pixels keep the old hue


def test_vanishing_object_is_counted():
    clip = sw.make_clip(6, 1, num_objects=1)
    frames = clip.frames.copy()
    frames[10:20] = frames[0, :1, :1]  # background colour everywhere for ten frames
    s = chk.check_video(frames, clip.prompt).summary()
    assert s["vanish_events"] == 1 and s["appear_events"] == 1
    assert abs(s["frac_frames_all_present"] - 23 / 33) < 1e-6


def test_float_frames_in_unit_range_are_accepted():
    clip = sw.make_clip(8, 0)
    s = chk.check_video(clip.frames.astype(np.float32) / 255.0, clip.prompt).summary()
    assert s["frac_frames_all_present"] >= 0.99
