from manifests.sample import clip_key, is_valid_key, member_names, safe_id


def test_keys_have_no_dots_or_slashes_and_stay_unique():
    ids = ["a.b", "a_b", "a/b", "http://x.org/v.mp4?x=1", "ok-id_1", "é", "../../etc"]
    keys = [clip_key("web", i, 0, 3) for i in ids]
    assert all(is_valid_key(k) for k in keys)
    assert len(set(keys)) == len(keys)


def test_clean_ids_are_kept_readable():
    assert safe_id("dQw4w9WgXcQ") == "dQw4w9WgXcQ"
    assert clip_key("kinetics", "-abc_DEF123", 17, 27) == "kinetics_-abc_DEF123_000017000_000027000"


def test_long_ids_are_shortened_with_a_hash():
    a, b = safe_id("x" * 100 + "1"), safe_id("x" * 100 + "2")
    assert a != b and len(a) < 80


def test_members_of_a_sample():
    assert member_names("k", labeled=False) == ["k.mp4", "k.json"]
    assert member_names("k", labeled=True) == ["k.mp4", "k.json", "k.cls"]
