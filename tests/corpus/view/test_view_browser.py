"""The viewer in a real browser: Debian's Chromium, headless, driven by selenium through Debian's
chromium-driver (the Makefile installs both with apt when it runs as root; nothing is downloaded
at run time). A screenshot of each page lands in test-artifacts/view/ (VMAE_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
import shutil
import urllib.parse
from pathlib import Path

import pandas as pd
import pytest

from corpus.mix.run import MixOptions, mix
from tests.helpers import viewing

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="Chromium and its driver are not installed: `make test` installs Debian's chromium and chromium-driver "
           "with apt when it runs as root; elsewhere install them yourself",
)
ARTIFACTS = Path(os.environ.get("VMAE_TEST_ARTIFACTS", Path(__file__).resolve().parents[3] / "test-artifacts")) / "view"


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # selenium never fetches a driver or a browser
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def site(viewed_corpus, tmp_path_factory):
    with viewing([viewed_corpus], tmp_path_factory.mktemp("cache")) as address:
        yield viewed_corpus, f"http://{address}"


def shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def wait_for(driver, script: str, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: d.execute_script(script))


def test_the_grid_lists_every_clip_and_a_filter_narrows_it(browser, site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    root, base = site
    clips = pd.read_parquet(root / "clips")
    browser.get(f"{base}/c/0/clips?per_page=48")
    cards = browser.find_elements(By.CSS_SELECTOR, ".card")
    assert sorted(c.get_attribute("data-key") for c in cards) == sorted(clips["clip_key"])
    # every contact sheet was made and decoded by the browser
    wait_for(browser, "return [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    shot(browser, "clips")
    Select(browser.find_element(By.NAME, "reason")).select_by_value("near")
    browser.find_element(By.ID, "apply").click()
    wait_for(browser, "return location.search.includes('reason=near')")
    narrowed = [c.get_attribute("data-key") for c in browser.find_elements(By.CSS_SELECTOR, ".card")]
    assert sorted(narrowed) == sorted(clips.loc[clips.video_id == "a_copy", "clip_key"])
    shot(browser, "clips-filtered")


def test_a_clip_plays_from_its_tar(browser, site):
    root, base = site
    clip = pd.read_parquet(root / "clips").sort_values("clip_key").iloc[0]
    browser.get(f"{base}/c/0/clip/{urllib.parse.quote(clip['clip_key'])}")
    # played, not just loaded: the position moves on
    wait_for(browser, "const v = document.getElementById('player'); return v.readyState >= 2 && v.currentTime > 0.3")
    width, height = browser.execute_script("const v = document.getElementById('player'); "
                                           "return [v.videoWidth, v.videoHeight]")
    assert (width, height) == (clip["width"], clip["height"])
    shot(browser, "clip")


def test_a_dedup_pair_shows_both_clips_and_a_failed_row_its_kind(browser, site):
    from selenium.webdriver.common.by import By

    root, base = site
    browser.get(f"{base}/c/0/dedup")
    pairs = browser.find_elements(By.CSS_SELECTOR, ".pair")
    dropped = pd.read_parquet(root / "dedup").query("not keep")
    assert len(pairs) == len(dropped) == 2
    for pair in pairs:
        images = pair.find_elements(By.TAG_NAME, "img")
        assert len(images) == 2
    wait_for(browser, "return [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    shot(browser, "dedup")
    browser.get(f"{base}/c/0/rows?status=failed")
    failed = pd.read_parquet(root / "videos").query("status == 'failed'")
    kinds = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "td.kind")]
    assert kinds == failed["error_kind"].tolist()
    shot(browser, "failed-rows")


def test_the_index_rejects_and_a_hybrids_recipe(browser, viewed_corpus, tmp_path):
    from selenium.webdriver.common.by import By

    recipe = tmp_path / "r.yaml"
    recipe.write_text("sources:\n  films: {quota: 8}\n")
    films = mix(MixOptions(recipe=str(recipe), inputs={"films": str(viewed_corpus)}, out=str(tmp_path / "hybrid")),
                progress=False)["mix"]["films"]
    with viewing([tmp_path / "hybrid", viewed_corpus], tmp_path / "cache") as address:
        browser.get(f"http://{address}/")
        names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "table.rows a")]
        assert names == ["hybrid", viewed_corpus.name]
        shot(browser, "index")
        browser.get(f"http://{address}/c/0/mix")
        cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#recipe tr:nth-child(2) td")]
        assert cells[:6] == ["films", *(str(films[k]) for k in ("quota", "available", "dropped_by_dedup", "selected",
                                                               "shortfall"))]
        shot(browser, "mix")
        browser.get(f"http://{address}/c/1/rejects")
        wait_for(browser, "return document.images.length == 2 && "
                          "[...document.images].every(i => i.complete && i.naturalWidth > 0)")
        shot(browser, "rejects")
