import pytest

from dcign.layout import check_layout
from dcign.objectives import parse_layout


def test_a_latent_listed_twice_in_one_factor_is_refused():
    with pytest.raises(ValueError, match="lists a latent twice"):
        check_layout({"azimuth": [0, 0]}, 200)


def test_empty_cli_layout_is_refused():
    with pytest.raises(ValueError, match="names no factor"):
        parse_layout("")
    assert parse_layout("azimuth=0,elevation=1") == {"azimuth": [0], "elevation": [1]}


@pytest.mark.parametrize("text", ["azimuth=0,,elevation=1", "azimuth=0,", ",azimuth=0"])
def test_an_empty_layout_entry_is_refused(text):
    """Found by a bad-input check: the empty entry was dropped and the run trained."""
    with pytest.raises(ValueError, match="empty entry"):
        parse_layout(text)
