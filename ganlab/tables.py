"""Markdown table basics every report uses: mean ± std cells, a table, the quality table's columns."""

from __future__ import annotations

from typing import Any

# (key in the summary, column title, decimals, scale)
QUALITY_COLUMNS = (
    ("fid", "FID ↓", 2, 1.0),
    ("kid_standardized", "KID×10³ ↓", 1, 1e3),
    ("inception_score", "IS ↑", 2, 1.0),
    ("precision", "precision ↑", 3, 1.0),
    ("recall", "recall ↑", 3, 1.0),
    ("class_kl", "class KL ↓", 4, 1.0),
    ("recognizable", "recognizable ↑", 3, 1.0),
    ("pixel_mse", "MSE to teacher ↓", 4, 1.0),
    ("label_agreement", "label agreement ↑", 3, 1.0),
)


def mean_std(entry: dict[str, float] | None, decimals: int, scale: float = 1.0) -> str:
    """'12.34 ± 0.56' from {"mean", "std"}; '–' when absent."""
    if not entry:
        return "–"
    return f"{entry['mean'] * scale:.{decimals}f} ± {entry['std'] * scale:.{decimals}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def quality_table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    """Rows of (label, summary) with mean ± std of each quality metric that at least one row has."""
    columns = [column for column in QUALITY_COLUMNS if any(column[0] in summary for _, summary in rows)]
    header = ["model"] + [title for _, title, _, _ in columns]
    body = [[label] + [mean_std(summary.get(key), decimals, scale) for key, _, decimals, scale in columns] for label, summary in rows]
    return table(header, body)
