"""generate_batches: a 2.5D batch's padded images are not read into its reports."""

import torch

from hyperct.inference.reports import generate_batches


class ImageMeanWriter(torch.nn.Module):
    """Writes, as its report, how many images it read and their mean (greedy, deterministic):
    a report that changes with anything read beyond a scan's own images."""

    def generate_reports(
        self, images: torch.Tensor, image_mask: torch.Tensor | None = None
    ) -> list[str]:
        mask = torch.ones(images.shape[:2], dtype=torch.bool) if image_mask is None else image_mask
        return [f"{int(m.sum())} images, mean {float(x[m].mean()):.4f}"
                for x, m in zip(images, mask)]


def _report(batch: dict, scan_id: str) -> str:
    table = generate_batches(ImageMeanWriter(), [batch], torch.device("cpu"), bf16=False)
    return table.set_index("scan_id").at[scan_id, "report"]


def test_a_padded_scan_gets_the_report_it_gets_alone():
    gen = torch.Generator().manual_seed(1)
    short = torch.randn(1, 3, 3, 8, 8, generator=gen)  # 3 triplets
    long = torch.randn(1, 4, 3, 8, 8, generator=gen)  # 4 triplets
    padding = 5 + torch.randn(1, 1, 3, 8, 8, generator=gen)  # not zero: any read shows
    mask = torch.ones(2, 4, dtype=torch.bool)
    mask[0, -1] = False
    padded = {"scan_id": ["s", "l"], "image": torch.cat([torch.cat([short, padding], 1), long]),
              "image_mask": mask}
    alone = {"scan_id": ["s"], "image": short, "image_mask": torch.ones(1, 3, dtype=torch.bool)}

    assert _report(padded, "s") == _report(alone, "s")
    assert _report(padded, "l") == _report({"scan_id": ["l"], "image": long}, "l")


def test_a_3d_batch_has_no_image_mask_to_pass():
    volumes = {"scan_id": ["a", "b"], "image": torch.randn(2, 1, 4, 8, 8)}
    table = generate_batches(ImageMeanWriter(), [volumes], torch.device("cpu"), bf16=False)
    assert list(table["scan_id"]) == ["a", "b"]
    assert table["report"].str.startswith("1 images").all()
