from manifests.sample import MAX_KEY_BYTES, clip_key, fit_key, is_valid_key, member_names, safe_id


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


def test_keys_fit_a_tar_member_name_however_long_the_name():
    film = "The.Lord.of.the.Rings.The.Fellowship.of.the.Ring.2001.EXTENDED"
    keys = {clip_key(source, vid, 3600.5, 3610.5) for source in ("movies", "a" * 200)
            for vid in (film, film + ".Part2", "x" * 300, "é" * 300)}
    assert len(keys) == 8 and all(len(k.encode()) <= MAX_KEY_BYTES and is_valid_key(k) for k in keys)
    assert all(k.endswith("_003600500_003610500") for k in keys)  # the cut stays readable
    short = clip_key("web", "1001", 0, 3)
    assert fit_key(short) == short and len(fit_key("k" * 95, "-r2")) == MAX_KEY_BYTES
