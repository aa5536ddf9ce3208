import pytest

from dcign.data.spec import DatasetSpec, parse_dataset_spec


def test_builtin_name_has_no_path():
    assert parse_dataset_spec("faces") == DatasetSpec("faces", None)


def test_name_and_path_split_at_first_colon(tmp_path):
    spec = parse_dataset_spec(f"bfm:{tmp_path}/a:b.mat")
    assert spec.name == "bfm" and str(spec.path) == f"{tmp_path}/a:b.mat"
    assert str(spec) == f"bfm:{tmp_path}/a:b.mat"


@pytest.mark.parametrize("bad", ["", "  ", ":x", "Faces", "dsprites:", "a b:x"])
def test_bad_specs_are_refused(bad):
    with pytest.raises(ValueError):
        parse_dataset_spec(bad)
