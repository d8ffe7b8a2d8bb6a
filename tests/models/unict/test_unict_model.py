import pytest
import torch
from unict_helpers import REPORTS, inputs, tiny_config

from hyperct.models.report.generate import GenerationConfig
from hyperct.models.unict import UniCT, UniCTTargets, total_loss

ENCODERS = ["ctscroll", "volume3d", "dinov3"]


def targets_for(output, reports=None, mask_present=(True, True)) -> UniCTTargets:
    """Labels with one unknown, a box per scan in a different category, the given reports."""
    labels = torch.tensor([[1, 0, -1], [0, 1, 1]])
    masks = torch.zeros(output.seg_logits.shape)
    masks[0, 0, :, 4:20, 4:20] = 1
    masks[1, 1, :, 12:28, 8:24] = 1
    return UniCTTargets(labels, masks, torch.tensor(mask_present), reports)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_forward_gives_every_output_on_the_model_grid(make_model, encoder):
    model = make_model(encoder)
    images, image_mask = inputs(encoder)
    reports = model.encode_reports([REPORTS[0], None])
    output = model(images, image_mask, reports=reports)
    depth = 16 if encoder == "volume3d" else 12  # 2.5D: 4 images x 3 slices
    assert output.class_logits.shape == (2, 3)
    assert output.seg_logits.shape == (2, 2, depth, 32, 32)
    assert output.report_logits.shape == (2, reports.ids.shape[1] - 1, model.tokenizer.vocab_size)
    assert output.fusion_attention.shape == (2, 2, 3, 3)
    assert model.fusion_tasks == ("classification", "segmentation", "report")


def test_fusion_attention_rows_sum_to_one(make_model):
    model = make_model("ctscroll")
    attention = model(*inputs("ctscroll")).fusion_attention
    assert (attention >= 0).all()
    torch.testing.assert_close(attention.sum(-1), torch.ones(2, 2, 3))


def perturb(module: torch.nn.Module) -> None:
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=gen))


def randomise_film(model: UniCT) -> None:
    """The FiLM layers start at zero (identity); give them weights so modulation acts."""
    with torch.no_grad():
        for film in model.modulation.films:
            film[-1].weight.normal_(0, 0.5)


@pytest.mark.parametrize("fusion", [False, True])
def test_without_fusion_the_segmentation_latent_does_not_reach_classification(make_model, fusion):
    model = make_model("volume3d", report=False, fusion=fusion, modulation=False)
    images, _ = inputs("volume3d")
    before = model(images)
    perturb(model.adapters["segmentation"])
    after = model(images)
    assert not torch.allclose(before.seg_logits, after.seg_logits)
    assert torch.allclose(before.class_logits, after.class_logits) is not fusion
    assert (before.fusion_attention is None) is not fusion


@pytest.mark.parametrize("modulation", [False, True])
def test_without_modulation_the_segmentation_prediction_does_not_reach_classification(
    make_model, modulation
):
    model = make_model("volume3d", modulation=modulation)
    if modulation:
        randomise_film(model)
    images, _ = inputs("volume3d")
    before = model(images)
    perturb(model.seg_decoder)
    after = model(images)
    assert not torch.allclose(before.seg_logits, after.seg_logits)
    assert torch.allclose(before.class_logits, after.class_logits) is not modulation


def test_modulation_starts_as_the_identity(make_model):
    images, _ = inputs("volume3d")
    with_film = make_model("volume3d", modulation=True)
    without = make_model("volume3d", modulation=False)
    without.load_state_dict(with_film.state_dict(), strict=False)
    torch.testing.assert_close(with_film(images).class_logits, without(images).class_logits)


HEADS = {
    "classification": lambda m: m.class_head,
    "segmentation": lambda m: m.seg_decoder,
    "report": lambda m: m.report_decoder,
}


@pytest.mark.parametrize("task", list(HEADS))
def test_switching_a_supervision_off_removes_its_loss_and_its_heads_gradient(make_model, task):
    model = make_model("volume3d", **{f"supervise_{task}": False}).train()
    randomise_film(model)
    images, _ = inputs("volume3d")
    reports = model.encode_reports(REPORTS[:2])
    output = model(images, reports=reports)
    losses = model.losses(output, targets_for(output, reports))
    assert task not in losses and len(losses) == 2
    total_loss(losses, model.config).backward()
    assert all(p.grad is None for p in HEADS[task](model).parameters())
    for other in set(HEADS) - {task}:
        assert any(
            p.grad is not None and p.grad.abs().sum() > 0 for p in HEADS[other](model).parameters()
        )


def test_a_batch_without_masks_adds_no_segmentation_loss_nor_gradient(make_model):
    model = make_model("volume3d", report=False).train()
    images, _ = inputs("volume3d")
    output = model(images)
    losses = model.losses(output, targets_for(output, mask_present=(False, False)))
    assert losses["segmentation"].item() == 0.0
    losses["segmentation"].backward()
    assert all(p.grad is None or not p.grad.any() for p in model.seg_decoder.parameters())


def test_the_losses_decrease_when_overfitting_two_volumes(make_model):
    model = make_model("volume3d").train()
    images, _ = inputs("volume3d")
    reports = model.encode_reports(REPORTS[:2])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = []
    for _ in range(20):
        output = model(images, reports=reports)
        losses = model.losses(output, targets_for(output, reports))
        optimizer.zero_grad()
        total_loss(losses, model.config).backward()
        optimizer.step()
        history.append({task: loss.item() for task, loss in losses.items()})
    assert sum(history[-1].values()) < 0.6 * sum(history[0].values())
    assert all(history[-1][task] < history[0][task] for task in history[0])


def test_predict_gives_probabilities_masks_and_reports(make_model):
    model = make_model("ctscroll")
    images, image_mask = inputs("ctscroll")
    prediction = model.predict(images, image_mask, GenerationConfig(max_tokens=5))
    assert prediction.probabilities.shape == (2, 3)
    assert prediction.mask_probabilities.shape == (2, 2, 12, 32, 32)
    assert 0 <= prediction.mask_probabilities.min() and prediction.mask_probabilities.max() <= 1
    assert len(prediction.reports) == 2 and all(isinstance(r, str) for r in prediction.reports)
    assert model.predict(images, image_mask).reports is None
    beam = model.generate_reports(images, image_mask, GenerationConfig(max_tokens=5, beam_width=2))
    assert len(beam) == 2
    torch.testing.assert_close(
        model.predict_all(images, image_mask), torch.logit(prediction.probabilities)
    )


def test_encode_reports_gives_bos_only_to_scans_without_text(make_model):
    model = make_model()
    batch = model.encode_reports([None, REPORTS[1], "  "])
    assert batch.mask[[0, 2]].sum(1).tolist() == [1, 1]
    assert (batch.ids[:, 0] == model.tokenizer.bos_id).all()
    assert batch.mask[1].sum() > 3


def test_without_a_tokenizer_there_is_no_report_head(make_model):
    model = make_model(report=False)
    assert model.report_decoder is None and model.fusion_tasks == ("classification", "segmentation")
    with pytest.raises(ValueError, match="no report head"):
        model.generate_reports(inputs("volume3d")[0])
    with pytest.raises(ValueError, match="supervise_report"):
        UniCT(tiny_config("volume3d"))


@pytest.mark.parametrize("encoder", ["volume3d", "dinov3"])
def test_trainable_state_round_trips_without_the_frozen_backbone(make_model, encoder):
    model = make_model(encoder, report=False)
    state = model.trainable_state_dict()
    assert not set(state) & model.encoder.frozen_keys("encoder.")
    assert any(".source.lora_" in k for k in state) is (encoder == "dinov3")
    assert (len(state) < len(model.state_dict())) is (encoder == "dinov3")
    fresh = make_model(encoder, report=False)
    perturb(fresh.class_head)
    fresh.load_trainable_state_dict(state)
    images, image_mask = inputs(encoder)
    torch.testing.assert_close(
        fresh(images, image_mask).class_logits, model(images, image_mask).class_logits
    )
    with pytest.raises(KeyError, match="missing"):
        fresh.load_trainable_state_dict({k: v for k, v in state.items() if "class_head" not in k})


def test_the_screening_model_interface(make_model):
    model = make_model("dinov3", report=False)
    assert model.task_names == ["a", "b", "c"]
    assert model.feature_width == model.encoder.channels == 64
    assert model.backbone_identity()["name"] == "dinov3-tiny"


def test_the_classification_head_reads_the_encoders_feature_map(make_model):
    model = make_model("ctscroll", report=False)
    images, image_mask = inputs("ctscroll")
    encoded = model.forward_features(images, image_mask)
    encoded.feature_map.retain_grad()
    logits = model.forward_head(encoded)
    torch.testing.assert_close(logits, model.predict_all(images, image_mask))
    logits[:, 0].sum().backward()
    assert encoded.feature_map.grad.abs().sum() > 0


def test_padding_images_change_no_output_of_the_real_ones(make_model):
    model = make_model("ctscroll").train()
    randomise_film(model)
    images, image_mask = inputs("ctscroll")
    changed = images.clone()
    changed[0, -1] = 50.0  # scan 0's last image is padding
    reports = model.encode_reports(REPORTS[:2])
    a, b = model(images, image_mask, reports), model(changed, image_mask, reports)
    torch.testing.assert_close(a.class_logits, b.class_logits)
    torch.testing.assert_close(a.report_logits, b.report_logits)
    torch.testing.assert_close(a.seg_logits[:, :, :9], b.seg_logits[:, :, :9])


def test_a_report_head_makes_it_a_report_generator_scoring_like_its_losses(make_model):
    from hyperct.models.interface import PROTOCOLS, Capability

    images, _ = inputs("volume3d")
    assert Capability.REPORT_GENERATION not in make_model(report=False).capabilities
    model = make_model()
    assert {Capability.UNIFIED_TASKS, Capability.REPORT_GENERATION} <= model.capabilities
    assert all(isinstance(model, PROTOCOLS[c]) for c in model.capabilities)
    reports = REPORTS[:2]
    encoded = model.encode_reports(reports)
    with torch.no_grad():
        losses = model.losses(model(images, reports=encoded), UniCTTargets(reports=encoded))
        torch.testing.assert_close(model.report_loss(images, reports), losses["report"])
    assert len(model.generate_reports(images)) == 2


@pytest.mark.parametrize(("encoder", "upsample"), [("volume3d", 1), ("volume3d", 3), ("ctscroll", 2),
                                                  ("dinov3", 1)])
def test_the_mask_decoder_climbs_to_the_encoders_finer_stages(make_model, encoder, upsample):
    """Its masks come from the grid of the finest stage it joins (x2 per stage without skips),
    and the decoder reads those stages: changing a skip map changes the masks."""
    model = make_model(encoder, report=False, seg_upsample=upsample)
    images, image_mask = inputs(encoder)
    encoded = model.forward_features(images, image_mask)
    latents = torch.randn(2, model.config.num_seg_classes, model.config.dim)
    coarse, fine = model.seg_decoder(encoded.feature_map, latents, encoded.grid, encoded.skips)
    per_image = encoded.feature_map.shape[3:]
    if encoded.skips:
        per_image = encoded.skips[upsample - 1].shape[3:]
    else:
        per_image = tuple(2**upsample * s for s in per_image)
    assert tuple(coarse.shape[3:]) == tuple(per_image)
    assert fine.shape == (2, model.config.num_seg_classes, *encoded.grid)
    if encoded.skips:
        changed = list(encoded.skips)
        changed[upsample - 1] = changed[upsample - 1] + 1.0
        again, _ = model.seg_decoder(encoded.feature_map, latents, encoded.grid, changed)
        assert not torch.allclose(again, coarse)


def test_a_fresh_mask_decoder_starts_near_the_mask_prior(make_model):
    from hyperct.models.unict.heads import MASK_PRIOR

    model = make_model("volume3d", report=False)
    with torch.no_grad():
        probabilities = torch.sigmoid(model(*inputs("volume3d")).seg_logits)
    assert abs(float(probabilities.median()) - MASK_PRIOR) < 0.01
