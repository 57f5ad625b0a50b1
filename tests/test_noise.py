"""Initial noise: plain and SpecMix."""
import pytest
import torch

from vidlong.schedulers.noise import initial_noise, shared_noise


def test_specmix_statistics_and_determinism():
    shape, native = (1, 4, 24, 8, 8), 6
    a = initial_noise("specmix", shape, native, torch.Generator().manual_seed(0))
    b = initial_noise("specmix", shape, native, torch.Generator().manual_seed(0))
    assert a.shape == shape and a.dtype == torch.float32 and torch.equal(a, b)
    assert abs(a.std().item() - 1) < 0.1 and abs(a.mean().item()) < 0.1


def test_specmix_shares_low_frequencies_across_windows():
    """Frame means (the lowest spatial frequency) of SpecMix repeat with the shared block's period far
    more than those of plain noise."""
    shape, native = (1, 8, 24, 8, 8), 6
    gen = torch.Generator().manual_seed(1)
    mix, plain = initial_noise("specmix", shape, native, gen), initial_noise("plain", shape, native, gen)
    shared = shared_noise(shape, native, torch.Generator().manual_seed(2))
    # each repeat of the shared block holds the same frames, shuffled
    assert torch.equal(shared[:, :, :native].sum(2), shared[:, :, native:2 * native].sum(2)) or \
        torch.allclose(shared[:, :, :native].sum(2), shared[:, :, native:2 * native].sum(2), atol=1e-5)
    corr = lambda x: torch.corrcoef(torch.stack([x[:, :, :native].mean((3, 4)).flatten(), x[:, :, native:2 * native].mean((3, 4)).flatten()]))[0, 1]
    assert corr(mix) > corr(plain) + 0.2


def test_freenoise_repeats_one_native_window_shuffled():
    """FreeNoise's rescheduling: every native window holds the first window's noise frames, reordered."""
    shape, native = (1, 2, 10, 3, 3), 4
    noise = initial_noise("freenoise", shape, native, torch.Generator().manual_seed(3))
    assert noise.shape == shape
    first = noise[0, :, :native]
    windows = [noise[0, :, start : start + native] for start in range(native, 10, native)]
    for window in windows:
        for f in range(window.shape[1]):
            assert any(torch.equal(window[:, f], first[:, g]) for g in range(native))
    assert not torch.equal(windows[0], first)  # reordered, not a plain repeat
    assert torch.equal(noise, initial_noise("freenoise", shape, native, torch.Generator().manual_seed(3)))


def test_unknown_noise():
    with pytest.raises(ValueError):
        initial_noise("pink", (1, 1, 2, 2, 2), 2)
