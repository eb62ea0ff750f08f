"""Colour-blind-safe colours for every figure of the edition.

The colours are the eight of Okabe and Ito's "Color Universal Design" palette
(2008), with the hex codes as R's ``see`` package documents them. Readers with
protanopia, deuteranopia or tritanopia can still tell them apart, so a figure
that draws its categories in these colours needs no other encoding to be read.
Yellow is hard to see on white: draw it as a filled area, not a thin line.
"""

from __future__ import annotations

# Named colours, in the palette's usual order.
OKABE_ITO: dict[str, str] = {
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
    "black": "#000000",
}

# Colours for categorical series, in drawing order: the first series gets
# blue, the second orange. Yellow comes last because it fades on white.
COLORBLIND_SAFE: list[str] = [
    OKABE_ITO["blue"],
    OKABE_ITO["orange"],
    OKABE_ITO["bluish green"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["reddish purple"],
    OKABE_ITO["sky blue"],
    OKABE_ITO["black"],
    OKABE_ITO["yellow"],
]


def categorical_colors(count: int) -> list[str]:
    """Return ``count`` colours from :data:`COLORBLIND_SAFE`, in drawing order.

    Raises ``ValueError`` when more categories are asked for than the palette
    has, because repeating a colour would make two categories look the same.
    """
    if count < 0:
        raise ValueError(f"count={count} is negative; pass the number of categories to colour.")
    if count > len(COLORBLIND_SAFE):
        raise ValueError(
            f"count={count} exceeds the {len(COLORBLIND_SAFE)} colours of the Okabe-Ito palette; "
            "group the smaller categories or add a second encoding such as markers or hatching."
        )
    return COLORBLIND_SAFE[:count]
