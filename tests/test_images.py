"""Image recovery: the DIP network, corruption, PSNR, the DOP step, checkpoints, the workflow."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import REPO

from implicit_bias.config import kind_defaults
from implicit_bias.dip_network import SkipNet, skip_net_parameter_count
from implicit_bias.image_data import MissingImageError, load_image, psnr, salt_and_pepper
from implicit_bias.image_recovery import RecoveryConfig, initial_state, recover_image

# The paper's images, where this checkout sits beside the project's shared data (tests only).
PAPER_IMAGES_DIR = REPO.parent / "shared" / "data" / "images"


def _cfg(**changes) -> RecoveryConfig:
    """The paper's settings of a gallery run, with ``changes``."""
    return RecoveryConfig.from_settings(kind_defaults("image_gallery"), **changes)


@pytest.fixture(autouse=True)
def _one_thread():
    # Bit-for-bit comparisons on the CPU need a fixed reduction order.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# --------------------------------------------------------------------------- network


def test_parameter_count_by_hand_one_scale():
    # width 4, one scale, 32 input channels, 4 skip channels, by hand:
    # skip 1x1 32->4: 128+4, BN 8 | down 3x3 s2 32->4: 1152+4, BN 8 | 3x3 4->4: 144+4, BN 8
    # merge BN over 4+4 channels: 16 | up 3x3 8->4: 288+4, BN 8 | 1x1 4->4: 16+4, BN 8
    # head 1x1 4->3: 12+3
    by_hand = (132 + 8) + (1156 + 8) + (148 + 8) + 16 + (292 + 8) + (20 + 8) + 15
    assert by_hand == 1819
    assert _n_params(SkipNet(width=4, scales=1)) == by_hand
    assert skip_net_parameter_count(width=4, scales=1) == by_hand


@pytest.mark.parametrize("width", [4, 16, 64, 128])
def test_parameter_count_formula(width):
    net = SkipNet(input_channels=32, width=width, scales=5, skip_channels=4)
    assert _n_params(net) == skip_net_parameter_count(32, 3, width, 5, 4)


def test_parameter_count_paper_width():
    # The paper's network (width 128) has about 2.2 million parameters.
    assert skip_net_parameter_count(width=128) == 2_217_831


@pytest.mark.parametrize("width,shape", [(8, (64, 64)), (16, (64, 96)), (4, (128, 64))])
def test_output_shape_and_range(width, shape):
    net = SkipNet(width=width)
    z = torch.rand(2, 32, *shape) * 0.1
    out = net(z)
    assert out.shape == (2, 3, *shape)
    assert torch.all(out > 0) and torch.all(out < 1)


def test_network_rejects_sizes_not_multiple_of_32():
    with pytest.raises(ValueError, match="multiples of 32"):
        SkipNet(width=4)(torch.rand(1, 32, 64, 80))
    with pytest.raises(ValueError, match="at least 64 pixels a side"):
        SkipNet(width=4)(torch.rand(1, 32, 32, 64))


def test_every_conv_has_batchnorm_and_leaky_relu():
    net = SkipNet(width=8, scales=2)
    mods = list(net.modules())
    convs = [m for m in mods if isinstance(m, torch.nn.Conv2d)]
    bns = [m for m in mods if isinstance(m, torch.nn.BatchNorm2d)]
    acts = [m for m in mods if isinstance(m, torch.nn.LeakyReLU)]
    # per scale 5 convs (skip, 2 down, 2 up) + a merge BN; one head conv without BN
    assert len(convs) == 5 * 2 + 1
    assert len(bns) == 6 * 2
    assert len(acts) == 5 * 2 and all(a.negative_slope == 0.2 for a in acts)
    assert sum(isinstance(m, torch.nn.ReflectionPad2d) for m in mods) == 3 * 2  # the 3x3 convs


# --------------------------------------------------------------------------- data


def test_salt_and_pepper_fraction_and_values():
    rng = np.random.default_rng(0)
    clean = rng.uniform(0.05, 0.95, size=(64, 64, 3))  # no entry is exactly 0 or 1
    for p in (0.1, 0.5, 0.7):
        noisy = salt_and_pepper(clean, p, seed=123)
        hit = noisy != clean
        # Each entry is hit independently with probability p: a binomial fraction.
        assert abs(hit.mean() - p) < 4 * math.sqrt(p * (1 - p) / hit.size)
        assert set(np.unique(noisy[hit])) <= {0.0, 1.0}
        assert abs((noisy[hit] == 1.0).mean() - 0.5) < 0.03
        np.testing.assert_array_equal(noisy[~hit], clean[~hit])
    np.testing.assert_array_equal(salt_and_pepper(clean, 0.5, 7), salt_and_pepper(clean, 0.5, 7))
    assert not np.array_equal(salt_and_pepper(clean, 0.5, 7), salt_and_pepper(clean, 0.5, 8))


def test_psnr_hand_computation():
    clean = np.zeros((4, 4, 3))
    est = np.full((4, 4, 3), 0.1)  # MSE 0.01 -> 20 dB
    assert psnr(clean, est) == pytest.approx(20.0)
    rng = np.random.default_rng(1)
    a, b = rng.uniform(size=(8, 8, 3)), rng.uniform(size=(8, 8, 3))
    assert psnr(a, b) == pytest.approx(10 * math.log10(1.0 / np.mean((a - b) ** 2)))


def test_load_skimage_image_resized():
    img = load_image("astronaut", "skimage", size=64)
    assert img.shape == (64, 64, 3) and img.dtype == np.float64
    assert 0.0 <= img.min() and img.max() <= 1.0
    full = load_image("chelsea", "skimage")  # 300 x 451 -> cropped to 288 x 448
    assert full.shape == (288, 448, 3)


def test_missing_image_names_folder_and_source(tmp_path):
    with pytest.raises(MissingImageError) as err:
        load_image("F16", "folder", tmp_path / "nowhere")
    text = str(err.value)
    assert str(tmp_path / "nowhere") in text
    assert "ChongYou/robust-image-recovery" in text and "data/denoising" in text


def test_checksum_mismatch_is_refused(tmp_path):
    import skimage.io

    skimage.io.imsave(tmp_path / "F16.png", np.zeros((64, 64, 3), np.uint8), check_contrast=False)
    (tmp_path / "SHA256SUMS").write_text("0" * 64 + "  F16.png\n")
    with pytest.raises(ValueError, match="SHA-256"):
        load_image("F16", "folder", tmp_path)
    assert load_image("F16", "folder", tmp_path, verify=False).shape == (64, 64, 3)


@pytest.mark.skipif(not (PAPER_IMAGES_DIR / "F16.png").exists(), reason="paper images not present")
def test_paper_image_verified():
    img = load_image("F16", "folder", PAPER_IMAGES_DIR)
    assert img.shape == (512, 512, 3)


# --------------------------------------------------------------------------- training


def _problem(size=64, p=0.5):
    clean = load_image("coffee", "skimage", size=size)
    return clean, salt_and_pepper(clean, p, 5)


def test_one_dop_step_matches_autograd_and_sgd(tmp_path):
    clean, noisy = _problem()
    cfg = _cfg(
        method="dop",
        width=4,
        steps=1,
        lr=0.7,
        alpha=50.0,
        init_scale=1e-2,
        input_noise_std=0.0,
        record_every=1,
        checkpoint_every=0,
    )
    seed = 11
    recover_image(noisy, clean, cfg, seed, checkpoint=tmp_path / "ck.pt")
    after = torch.load(tmp_path / "ck.pt", weights_only=False)

    # The same step by hand: the loss by autograd for theta, the closed form for g and h.
    net, z, gh = initial_state(cfg, seed, 64, 64)
    g0, h0 = gh[0].clone(), gh[1].clone()
    y = torch.from_numpy(noisy.transpose(2, 0, 1)).float().unsqueeze(0)
    out = net(z)
    r = out + g0 * g0 - h0 * h0 - y
    loss = r.square().mean()
    grads = torch.autograd.grad(loss, list(net.parameters()))
    n = r.numel()
    r = r.detach()
    g1 = g0 - cfg.alpha * cfg.lr * (4.0 / n) * g0 * r
    h1 = h0 + cfg.alpha * cfg.lr * (4.0 / n) * h0 * r
    torch.testing.assert_close(after["g"], g1, rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(after["h"], h1, rtol=1e-5, atol=1e-9)
    # g and h moved (the test would pass vacuously otherwise).
    assert (after["g"] - g0).abs().max() > 1e-6
    names = [name for name, _ in net.named_parameters()]
    for name, p0, grad in zip(names, net.parameters(), grads, strict=True):
        torch.testing.assert_close(after["net"][name], p0.detach() - cfg.lr * grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", ["dip", "dip_l1"])
def test_dip_losses_have_no_gh(method, tmp_path):
    clean, noisy = _problem()
    cfg = _cfg(method=method, width=4, steps=3, record_every=1, checkpoint_every=0)
    res = recover_image(noisy, clean, cfg, 3, checkpoint=tmp_path / "ck.pt")
    state = torch.load(tmp_path / "ck.pt", weights_only=False)
    assert state["g"] is None and res.corruption is None
    assert res.iterations == [0, 1, 2]
    if method == "dip_l1":
        assert res.loss[0] == pytest.approx(np.abs(res.final * 0 + noisy).mean(), rel=1.0)  # finite, positive
    assert all(math.isfinite(v) for v in res.psnr)


def test_adam_baseline_takes_adam_steps_and_dop_ignores_it(tmp_path):
    clean, noisy = _problem()
    base = dict(width=4, steps=1, record_every=1, checkpoint_every=0, input_noise_std=0.0)
    cfg = _cfg(method="dip_l1", baseline_optimizer="adam", adam_lr=1e-3, **base)
    assert cfg.optimizer == "adam"
    recover_image(noisy, clean, cfg, 7, checkpoint=tmp_path / "adam.pt")
    after = torch.load(tmp_path / "adam.pt", weights_only=False)
    assert after["adam"] is not None  # Adam's moments are checkpointed

    # Adam's first step is lr * g / (|g| + eps) (bias-corrected moments m = g, v = g^2):
    # about lr * sign(g) where g is well above eps; an SGD step of lr would be lr * g.
    net, z, _ = initial_state(cfg, 7, 64, 64)
    y = torch.from_numpy(noisy.transpose(2, 0, 1)).float().unsqueeze(0)
    grads = torch.autograd.grad((net(z) - y).abs().mean(), list(net.parameters()))
    moved = 0
    for (name, p0), grad in zip(net.named_parameters(), grads, strict=True):
        step = p0.detach() - after["net"][name]
        big = grad.abs() > 1e-5
        torch.testing.assert_close(step[big], 1e-3 * grad[big].sign(), rtol=0.02, atol=1e-6)
        moved += int(big.sum())
    assert moved > 100

    # DOP always takes plain gradient steps: the baselines' optimizer changes nothing there.
    dop = dict(method="dop", width=4, steps=5, record_every=1, checkpoint_every=0)
    a = recover_image(noisy, clean, _cfg(**dop), 3)
    b = recover_image(noisy, clean, _cfg(**dop, baseline_optimizer="adam"), 3)
    assert a.psnr == b.psnr and _cfg(**dop).science() == _cfg(**dop, baseline_optimizer="adam").science()
    with pytest.raises(ValueError, match="baseline_optimizer"):
        _cfg(method="dip", width=4, baseline_optimizer="rmsprop")


def test_the_unperturbed_metric_is_of_the_same_network_and_changes_nothing():
    clean, noisy = _problem()
    base = dict(method="dop", width=4, steps=7, checkpoint_every=0)
    every = recover_image(noisy, clean, _cfg(**base, record_every=1), 9)
    sparse = recover_image(noisy, clean, _cfg(**base, record_every=3), 9)
    # Recording the unperturbed output at every step leaves the training path as it was.
    assert sparse.iterations == [0, 3, 6]
    assert [every.psnr[k] for k in sparse.iterations] == sparse.psnr
    assert [every.psnr_clean[k] for k in sparse.iterations] == sparse.psnr_clean
    np.testing.assert_array_equal(every.final, sparse.final)
    # At step 0: the network's output for the unperturbed input, by hand, in training mode.
    net, z, _ = initial_state(_cfg(**base, record_every=1), 9, 64, 64)
    with torch.no_grad():
        by_hand = net(z).squeeze(0).permute(1, 2, 0).numpy().astype(np.float64)
    assert every.psnr_clean[0] == pytest.approx(psnr(clean, by_hand), abs=1e-9)
    # ... and not the perturbed one the paper's metric takes.
    assert every.psnr_clean[0] != every.psnr[0]
    assert every.psnr_clean_best == max(every.psnr_clean)


@pytest.mark.parametrize("allowed", [False, True])
def test_a_run_sets_tf32_as_configured(allowed):
    conv, matmul = torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision
    try:
        clean, noisy = _problem()
        recover_image(noisy, clean, _cfg(method="dip", width=4, steps=1, checkpoint_every=0, tf32=allowed), 1)
        want = "tf32" if allowed else "ieee"
        assert torch.backends.cudnn.conv.fp32_precision == want
        assert torch.backends.cuda.matmul.fp32_precision == want
    finally:
        torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision = conv, matmul


@pytest.mark.parametrize("method,optimizer", [("dop", "sgd"), ("dip_l1", "sgd"), ("dip", "adam")])
def test_resume_after_kill_gives_the_same_numbers(method, optimizer, tmp_path):
    clean, noisy = _problem()
    cfg = _cfg(
        method=method,
        width=4,
        steps=30,
        lr=2.0,
        alpha=100.0,
        record_every=5,
        checkpoint_every=10,
        baseline_optimizer=optimizer,
    )
    whole = recover_image(noisy, clean, cfg, 21, checkpoint=tmp_path / "whole.pt")

    ck = tmp_path / "killed.pt"
    partial = recover_image(noisy, clean, cfg, 21, checkpoint=ck, stop_at=17)  # "killed" at 17
    assert partial.steps_done == 17 and partial.final is not None
    assert torch.load(ck, weights_only=False)["step"] == 10  # the last checkpoint before the kill
    resumed = recover_image(noisy, clean, cfg, 21, checkpoint=ck)
    assert resumed.resumed_from == 10
    assert resumed.iterations == whole.iterations
    assert resumed.psnr == whole.psnr
    assert resumed.psnr_clean == whole.psnr_clean and len(whole.psnr_clean) == len(whole.psnr)
    assert resumed.loss == whole.loss
    np.testing.assert_array_equal(resumed.final, whole.final)
    assert (resumed.best_psnr, resumed.best_iteration) == (whole.best_psnr, whole.best_iteration)


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    clean, noisy = _problem()
    ck = tmp_path / "ck.pt"
    cfg = _cfg(method="dop", width=4, steps=10, record_every=5, checkpoint_every=5)
    recover_image(noisy, clean, cfg, 1, checkpoint=ck, stop_at=7)
    other = _cfg(method="dop", width=4, steps=10, alpha=200.0, record_every=5, checkpoint_every=5)
    assert recover_image(noisy, clean, other, 1, checkpoint=ck).resumed_from == 0
    assert recover_image(noisy, clean, cfg, 2, checkpoint=ck).resumed_from == 0  # other seed


def test_divergence_is_recorded_not_raised():
    clean, noisy = _problem()
    cfg = _cfg(method="dop", width=4, steps=6, lr=1.0, alpha=1e12, init_scale=1.0, record_every=1, checkpoint_every=0)
    res = recover_image(noisy, clean, cfg, 4)
    assert res.diverged


@pytest.mark.gpu
def test_cuda_run_with_mixed_precision_matches_cpu_start():
    clean, noisy = _problem()
    base = dict(method="dop", width=8, steps=40, record_every=10, checkpoint_every=0)
    cpu = recover_image(noisy, clean, _cfg(**base, amp="float32"), 5, "cpu")
    gpu = recover_image(noisy, clean, _cfg(**base, amp="bfloat16"), 5, "cuda")
    # Same start (drawn on the CPU), so the first recorded PSNR agrees up to bf16 rounding.
    assert gpu.psnr[0] == pytest.approx(cpu.psnr[0], abs=0.1)
    assert all(math.isfinite(v) for v in gpu.psnr) and gpu.steps_per_s > 0


# --------------------------------------------------------------------------- config and workflow


def test_quick_and_paper_image_sweeps_resolve(base_config, schema):
    from implicit_bias.config import deep_merge, validate_config
    from implicit_bias.experiments import sweep_jobs

    paper = validate_config(deep_merge(base_config, {"size": "paper"}), schema)["resolved"]
    # One job per (image, p, trial), making every run (method, width) on it.
    assert len(sweep_jobs(paper["image_width"])) == 1
    assert len(sweep_jobs(paper["image_gallery"])) == 4
    assert len(sweep_jobs(paper["image_noise"])) == 4
    assert paper["image_gallery"]["steps"] == 150000 and paper["image_gallery"]["alpha"] == 500
    # Fig. 1b runs as long as the official figure; the paper size is the official precision.
    assert paper["image_width"]["steps"] == 200000 and paper["image_noise"]["steps"] == 150000
    for sweep in ("image_width", "image_gallery", "image_noise"):
        assert paper[sweep]["amp"] == "float32" and paper[sweep]["tf32"] is False
        assert paper[sweep]["baseline_optimizer"] == "sgd"
    quick = validate_config(deep_merge(base_config, {"size": "quick"}), schema)["resolved"]
    assert quick["image_gallery"]["image_source"] == "skimage"
    jobs = sweep_jobs(quick["image_gallery"])
    assert "image~camera_p~0.5_trial~1" in jobs and len(jobs) == 6 * 2
    # Settings chosen on a development set are judged on other images.
    assert not set(quick["image_gallery"]["images"]) & set(quick["image_gallery"]["tuned_on"])


def test_plateau_gain_is_the_gain_over_the_last_fifth():
    from implicit_bias.experiments.images import plateau_gain

    its = [0, 25, 50, 75, 100]
    assert plateau_gain(its, [10.0, 20.0, 25.0, 26.0, 27.5], 100) == pytest.approx(1.5)  # from step 75 (< 80)
    assert plateau_gain([0, 40, 80, 99], [1.0, 2.0, 3.0, 3.05], 100) == pytest.approx(0.05)


def test_a_run_two_sweeps_ask_for_is_one_run(base_config, schema):
    from implicit_bias.config import deep_merge, validate_config
    from implicit_bias.experiments import sweep_jobs
    from implicit_bias.experiments.images import image_run_key

    quick = validate_config(deep_merge(base_config, {"size": "quick"}), schema)["resolved"]
    gallery, noise = quick["image_gallery"], quick["image_noise"]
    key = "image~camera_p~0.5_trial~0"
    assert image_run_key(gallery, sweep_jobs(gallery)[key]) == image_run_key(noise, sweep_jobs(noise)[key])
    other = dict(noise, lr=1.0)
    assert image_run_key(gallery, sweep_jobs(gallery)[key]) != image_run_key(other, sweep_jobs(other)[key])


def test_image_size_must_be_multiple_of_two_to_the_scales(base_config, schema):
    from implicit_bias.config import ConfigError, deep_merge, validate_config

    bad = deep_merge(base_config, {"size": "paper", "sweeps": {"image_width": {"image_size": 96, "scales": 6}}})
    with pytest.raises(ConfigError, match="image_size"):
        validate_config(bad, schema)


def test_paper_jobs_ask_for_a_gpu(base_config, schema):
    from implicit_bias.config import deep_merge, validate_config
    from implicit_bias.experiments import sweep_jobs
    from implicit_bias.experiments.images import image_resources

    for size, gpu in (("paper", 1), ("quick", 0), ("smoke", 0)):
        gallery = validate_config(deep_merge(base_config, {"size": size}), schema)["resolved"]["image_gallery"]
        for job in sweep_jobs(gallery).values():
            assert image_resources(gallery, job)["gpu"] == gpu


@pytest.mark.slow
def test_smoke_gallery_figure(smoke_run, tmp_path):
    from conftest import run_snakemake

    from implicit_bias.records import read_table

    # On a copy of the session's smoke run (conftest.smoke_run), which made it.
    run = smoke_run.copy(tmp_path / "run")
    run_snakemake(run, "--cores", "1", "--config", "size=smoke", "--", "figures/fig3_image_gallery.png")
    assert (run / "figures" / "fig3_image_gallery.png").stat().st_size > 0
    summary = read_table(run / "results" / "image_gallery" / "summary.csv")
    for col in (
        "method",
        "image",
        "p",
        "width",
        "psnr",
        "psnr_last",
        "psnr_best",
        "iter_best",
        "trial",
        "seed",
        "wall_s",
        "device",
    ):
        assert col in summary.columns
    assert set(summary["method"]) == {"dip", "dip_l1", "dop"}
    folder = run / "results" / "image_gallery" / "jobs" / summary["job"].iloc[0]
    for name in ("dop_w8_final.png", "dip_l1_w8_best.png", "input.png", "clean.png", "dop_w8_checkpoint.pt"):
        assert (folder / name).exists()


def test_an_unreadable_checkpoint_is_set_aside_and_the_run_starts_over(tmp_path):
    clean, noisy = _problem()
    cfg = _cfg(method="dop", width=4, steps=4, record_every=2, checkpoint_every=2)
    ck = tmp_path / "checkpoint.pt"
    ck.write_bytes(b"PK\x03\x04 truncated by a crash")
    with pytest.warns(UserWarning, match="could not be read"):
        res = recover_image(noisy, clean, cfg, 3, checkpoint=ck)
    assert res.resumed_from == 0 and res.steps_done == 4
    (aside,) = tmp_path.glob("checkpoint.pt.unreadable-*")
    assert aside.read_bytes() == b"PK\x03\x04 truncated by a crash"
    assert torch.load(ck, weights_only=False)["step"] == 4


def test_the_scale_ladder_resolves_to_the_papers_settings_but_size(base_config, schema):
    from implicit_bias.config import deep_merge, load_yaml, validate_config
    from implicit_bias.experiments import sweep_jobs

    overlay = load_yaml(REPO / "configs" / "image_scale.yaml")
    sweeps = [s for side in (64, 96, 128, 160) for s in (f"scale_{side}", f"scale_{side}_alpha")]
    resolved = validate_config(deep_merge(deep_merge(base_config, overlay), {"only": sweeps}), schema)["resolved"]
    assert sorted(resolved) == sorted(sweeps)
    # The steps each rung needs (chosen on the development images; configs/image_scale.yaml).
    steps = {64: 2000, 96: 2000, 128: 3000, 160: 5000}
    for side in (64, 96, 128, 160):
        gallery, alpha = resolved[f"scale_{side}"], resolved[f"scale_{side}_alpha"]
        for s in (gallery, alpha):
            # The paper's settings but the side, the width (side / 4, as 512 / 128) and the steps.
            assert s["image_size"] == side and s["widths"] == [side // 4] and s["steps"] == steps[side]
            assert (s["lr"], s["alpha"], s["p"], s["init_scale"]) == (1.0, 500.0, [0.5], 1e-5)
            assert len(s["images"]) >= 3 and not set(s["images"]) & set(s["tuned_on"])
        assert gallery["methods"] == ["dip", "dip_l1", "dop"] and gallery["trials"] == 2
        assert alpha["methods"] == ["dop"] and alpha["alphas"] == [250.0, 1000.0]
        jobs = sweep_jobs(alpha)
        assert len(jobs) == len(alpha["images"]) * 2 and "image~camera_p~0.5_trial~0_alpha~250" in jobs


def _alpha_context(tmp_path, **changes):
    from implicit_bias.experiments import Context

    s = {
        **kind_defaults("image_alpha"),
        "kind": "image_alpha",
        "image_source": "skimage",
        "images": ["camera"],
        "image_dir": str(tmp_path),
        "image_size": 64,
        "widths": [4],
        "steps": 6,
        "record_every": 2,
        "checkpoint_every": 0,
        **changes,
    }
    return Context(
        sweep="sens",
        settings=s,
        seed=5,
        device=torch.device("cpu"),
        dtype=torch.float64,
        outdir=tmp_path,
        progress=False,
    )


def test_a_sensitivity_job_is_the_same_trial_at_its_alpha(tmp_path):
    import dataclasses

    from implicit_bias.experiments.images import run_alpha, run_image

    job = {"image": "camera", "p": 0.5, "trial": 0}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    # A large g0, h0 so that six steps show alpha's effect on the PSNR.
    ctx = _alpha_context(tmp_path / "a", init_scale=0.1)
    summary, curves = run_alpha(ctx, {**job, "alpha": 250.0})
    assert list(summary["alpha"]) == [250.0] and set(curves["alpha"]) == {250.0}
    # The gallery's run of that trial with alpha set to 250: the same numbers, bit for bit.
    twin = dataclasses.replace(ctx, outdir=tmp_path / "b", settings={**ctx.settings, "alpha": 250.0})
    same, _ = run_image(twin, job)
    assert same["psnr_last"].tolist() == summary["psnr_last"].tolist()
    assert same["seed"].tolist() == summary["seed"].tolist()
    # At another alpha the numbers differ (the job's alpha is not ignored).
    other, _ = run_alpha(dataclasses.replace(ctx, outdir=tmp_path / "c"), {**job, "alpha": 5000.0})
    assert abs(other["psnr_last"].iloc[0] - summary["psnr_last"].iloc[0]) > 1e-3


def test_sensitivity_jobs_of_one_alpha_are_one_run(tmp_path):
    from implicit_bias.experiments.images import alpha_run_key

    a = _alpha_context(tmp_path).settings
    b = {**a, "alphas": [250.0]}
    job = {"image": "camera", "p": 0.5, "trial": 0}
    assert alpha_run_key(a, {**job, "alpha": 250.0}) == alpha_run_key(b, {**job, "alpha": 250.0})
    assert alpha_run_key(a, {**job, "alpha": 250.0}) != alpha_run_key(a, {**job, "alpha": 1000.0})


@pytest.mark.skipif(not (REPO / "docs" / "scale" / "64px" / "results").exists(), reason="no published rung")
def test_the_alpha_and_curves_figures_draw_a_published_rung():
    import matplotlib.pyplot as plt

    from implicit_bias.experiments import registry
    from implicit_bias.records import read_table

    results = REPO / "docs" / "scale" / "64px" / "results"

    def tables(sweep):
        return {
            sweep: {
                "settings": {},
                "summary": read_table(results / sweep / "summary.csv"),
                "curves": read_table(results / sweep / "curves.csv"),
                "jobs_dir": str(results / sweep / "jobs"),
            }
        }

    fig = registry().plot("image_alpha").draw(tables("scale_64_alpha"))
    shown = [ax for ax in fig.axes if ax.get_visible()]
    # One panel per image; one line per alpha (250 and 1000) in each.
    assert len(shown) == 3 and all(len(ax.get_lines()) == 2 for ax in shown)
    labels = sorted(t.get_text() for t in fig.legends[0].get_texts())
    assert [label.split(", ", 1)[1] for label in labels] == ["width 16, alpha 1000", "width 16, alpha 250"]
    plt.close(fig)
    fig = registry().plot("image_curves").draw(tables("scale_64"))
    # DIP, DIP-l1 and DOP on the paper's metric and, thin, on the unperturbed input.
    assert [len(ax.get_lines()) for ax in fig.axes if ax.get_visible()] == [6, 6, 6]
    plt.close(fig)
