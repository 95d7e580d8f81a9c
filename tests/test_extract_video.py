"""Video discovery in HTML: every reference form, kinds, posters, skips, caps, hostile input."""

from __future__ import annotations

import pytest
from fuzz_checks import check_resolved_url
from fuzz_profile import fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from crawler import extract
from crawler.extract import (
    VIDEO_KINDS,
    VIDEO_SKIP_REASONS,
    VIDEO_SOURCES,
    Extraction,
    ImageRef,
    VideoRef,
    extract_images,
    looks_like_video_url,
    video_kind,
)

BASE = "https://example.com/dir/page.html"
ORIGIN = "https://example.com"


def videos(html: str | bytes, base: str = BASE, **kwargs: int) -> list[tuple[str, str, str]]:
    """(url, source, kind) triples, in order."""
    return [(v.url, v.source, v.kind) for v in extract_images(html, base, **kwargs).videos]


def images(html: str | bytes, base: str = BASE) -> list[tuple[str, str]]:
    return [(i.url, i.source) for i in extract_images(html, base).images]


# --- Public surface -----------------------------------------------------------------


def test_public_constants() -> None:
    assert VIDEO_SOURCES == (
        "video-src",
        "video-source",
        "lazy",
        "og-video",
        "twitter-player-stream",
        "link-video-src",
        "preload",
        "link-href",
        "microdata-content-url",
    )
    assert VIDEO_KINDS == ("file", "hls", "dash")
    assert VIDEO_SKIP_REASONS == (
        "video_data_url",
        "video_blob_url",
        "video_unsupported_scheme",
        "video_invalid_url",
        "video_too_long_url",
        "video_player_page",
        "video_over_limit",
    )
    assert {
        "mp4",
        "m4v",
        "webm",
        "mov",
        "mkv",
        "ogv",
        "avi",
        "wmv",
        "flv",
        "3gp",
        "mpg",
        "mpeg",
    } <= (extract.VIDEO_EXTENSIONS)


def test_results_are_plain_dataclasses() -> None:
    ex = extract_images('<video src="/a.mp4"></video>', BASE)
    assert ex == Extraction(videos=[VideoRef(f"{ORIGIN}/a.mp4", "video-src", "file")])
    with pytest.raises(AttributeError):
        ex.videos[0].url = "x"  # type: ignore[misc]  # frozen


def test_a_page_without_videos_has_an_empty_video_list() -> None:
    ex = extract_images('<img src="/a.jpg">', BASE)
    assert ex.videos == [] and ex.video_skipped == {}


# --- One test per discovery form ----------------------------------------------------


def test_video_src() -> None:
    html = '<video src="clip.mp4"></video><video src="/abs.webm" controls></video>'
    assert videos(html) == [
        (f"{ORIGIN}/dir/clip.mp4", "video-src", "file"),
        (f"{ORIGIN}/abs.webm", "video-src", "file"),
    ]


def test_video_src_without_an_extension_is_still_a_video() -> None:
    assert videos('<video src="/stream/123"></video>') == [
        (f"{ORIGIN}/stream/123", "video-src", "file")
    ]


def test_video_source_children_with_types() -> None:
    html = """<video controls>
        <source src="/v/clip.webm" type="video/webm">
        <source src="/v/clip.mp4" type='video/mp4; codecs="avc1.42E01E, mp4a.40.2"'>
        <source src="/v/hls.m3u8" type="application/x-mpegURL">
        <source src="/v/manifest" type="application/dash+xml">
        <source src="/v/plain.mov">
    </video>"""
    assert videos(html) == [
        (f"{ORIGIN}/v/clip.webm", "video-source", "file"),
        (f"{ORIGIN}/v/clip.mp4", "video-source", "file"),
        (f"{ORIGIN}/v/hls.m3u8", "video-source", "hls"),
        (f"{ORIGIN}/v/manifest", "video-source", "dash"),
        (f"{ORIGIN}/v/plain.mov", "video-source", "file"),
    ]


def test_video_source_with_a_type_that_is_clearly_not_video_is_skipped() -> None:
    html = """<video>
        <source src="/v/track.mp3" type="audio/mpeg">
        <source src="/v/pic.jpg" type="image/jpeg">
        <source src="/v/subs.vtt" type="text/vtt">
        <source src="/v/ok.mp4" type="video/mp4">
    </video>"""
    ex = extract_images(html, BASE)
    assert [(v.url, v.source) for v in ex.videos] == [(f"{ORIGIN}/v/ok.mp4", "video-source")]
    assert ex.video_skipped == {}  # not video references at all, so not "skipped" ones


def test_audio_is_not_video() -> None:
    html = """<audio src="/a/song.mp4"><source src="/a/song.webm" type="audio/webm">
        <source src="/a/other.mp4"></audio><source src="/stray.mp4">"""
    ex = extract_images(html, BASE)
    assert ex.videos == [] and ex.video_skipped == {}


def test_picture_sources_are_not_videos() -> None:
    html = '<picture><source srcset="/p.webp" src="/p.mp4"><img src="/p.jpg"></picture>'
    assert videos(html) == []


def test_several_sources_chained_without_end_tags() -> None:
    # libxml2 nests the second <source> in the first; it is still the video's.
    html = '<video><source src="/a.mp4"><source src="/b.webm"></video>'
    assert [url for url, _s, _k in videos(html)] == [f"{ORIGIN}/a.mp4", f"{ORIGIN}/b.webm"]


def test_poster_stays_an_image_and_is_not_a_video() -> None:
    html = '<video poster="/v/poster.jpg" src="/v/clip.mp4"></video>'
    ex = extract_images(html, BASE)
    assert ex.images == [ImageRef(f"{ORIGIN}/v/poster.jpg", "video-poster")]
    assert ex.videos == [VideoRef(f"{ORIGIN}/v/clip.mp4", "video-src", "file")]


def test_lazy_attributes_on_video_and_its_sources() -> None:
    html = """<video data-src="/lazy/1" poster="/p.jpg">
        <source data-src="/lazy/2.webm" type="video/webm">
        <source data-src="/still.jpg">
    </video>
    <video data-video-src="/lazy/3.mp4"></video>"""
    assert videos(html) == [
        (f"{ORIGIN}/lazy/1", "lazy", "file"),
        (f"{ORIGIN}/lazy/2.webm", "lazy", "file"),
        (f"{ORIGIN}/lazy/3.mp4", "lazy", "file"),
    ]
    # The lazy image in a video source is an image, as before.
    assert (f"{ORIGIN}/still.jpg", "lazy") in images(html)


def test_lazy_attributes_on_other_elements_need_a_video_extension() -> None:
    html = """
        <div class="player" data-src="/d/clip.MP4?token=1"></div>
        <div data-hls="/d/live/index.m3u8"></div>
        <div data-src="/d/photo.jpg"></div>
        <iframe data-src="https://video.example/embed/1"></iframe>
        <span data-video="/d/watch?v=3"></span>
    """
    ex = extract_images(html, BASE)
    assert [(v.url, v.source, v.kind) for v in ex.videos] == [
        (f"{ORIGIN}/d/clip.MP4?token=1", "lazy", "file"),
        (f"{ORIGIN}/d/live/index.m3u8", "lazy", "hls"),
    ]
    assert ex.video_skipped == {}


def test_og_video_properties() -> None:
    html = """<head>
        <meta property="og:video" content="/og/a.mp4">
        <meta property="og:video:secure_url" content="https://cdn.example.net/og/a.mp4">
        <meta property="og:video:type" content="video/mp4">
        <meta property="og:video:width" content="1280">
        <meta property="og:video:url" content="/og/b.m3u8">
        <meta property="og:video:type" content="application/vnd.apple.mpegurl">
        <meta property="og:title" content="/not/a/video.mp4">
    </head><body><video src="/late.mp4"></video></body>"""
    assert videos(html) == [
        (f"{ORIGIN}/og/a.mp4", "og-video", "file"),
        ("https://cdn.example.net/og/a.mp4", "og-video", "file"),
        (f"{ORIGIN}/og/b.m3u8", "og-video", "hls"),
        (f"{ORIGIN}/late.mp4", "video-src", "file"),
    ]


def test_og_video_type_decides_the_kind_of_an_extensionless_url() -> None:
    html = """<meta property="og:video" content="https://cdn.example.net/manifest/9">
        <meta property="og:video:type" content="application/dash+xml">"""
    assert videos(html) == [("https://cdn.example.net/manifest/9", "og-video", "dash")]


def test_og_video_html_player_is_skipped_and_counted() -> None:
    html = """<head>
        <meta property="og:video" content="https://www.youtube.com/embed/abc">
        <meta property="og:video:secure_url" content="https://www.youtube.com/embed/abc">
        <meta property="og:video:type" content="text/html">
        <meta property="og:video" content="https://player.example/v/123">
        <meta property="og:video:type" content="application/x-shockwave-flash">
        <meta property="og:video" content="https://example.net/watch.php?id=5">
        <meta name="twitter:player" content="https://example.net/player.html">
    </head>"""
    ex = extract_images(html, BASE)
    assert ex.videos == []
    # One per og:video (its secure_url is the same video); twitter:player is a page,
    # not a video reference at all.
    assert ex.video_skipped == {"video_player_page": 3}


def test_og_video_untyped_urls() -> None:
    html = """<meta property="og:video" content="https://cdn.example.net/v/1.webm">
        <meta property="og:video" content="https://cdn.example.net/embed/2">
        <meta property="og:video" content="https://cdn.example.net/media/3">"""
    ex = extract_images(html, BASE)
    assert [v.url for v in ex.videos] == [
        "https://cdn.example.net/v/1.webm",
        "https://cdn.example.net/media/3",  # no type, no extension, not a page: worth a fetch
    ]
    assert ex.video_skipped == {"video_player_page": 1}


def test_og_video_with_an_audio_type_is_not_a_video() -> None:
    html = """<meta property="og:video" content="/a/track.mp4">
        <meta property="og:video:type" content="audio/mp4">"""
    ex = extract_images(html, BASE)
    assert ex.videos == [] and ex.video_skipped == {}


def test_twitter_player_stream_but_not_twitter_player() -> None:
    html = """<head>
        <meta name="twitter:card" content="player">
        <meta name="twitter:player" content="https://example.com/player/1.html">
        <meta name="twitter:player:stream" content="/tw/stream.mp4">
        <meta name="twitter:player:stream:content_type" content="video/mp4">
        <meta property="twitter:player:stream" content="/tw/2">
        <meta property="twitter:player:stream:content_type" content="application/x-mpegURL">
    </head>"""
    ex = extract_images(html, BASE)
    assert [(v.url, v.source, v.kind) for v in ex.videos] == [
        (f"{ORIGIN}/tw/stream.mp4", "twitter-player-stream", "file"),
        (f"{ORIGIN}/tw/2", "twitter-player-stream", "hls"),
    ]
    assert ex.video_skipped == {}


def test_links_to_video_files_and_playlists() -> None:
    html = """
        <a href="/f/1.mp4">a</a><a href="/f/2.M4V">b</a><a href="/f/3.webm#t=10">c</a>
        <a href="/f/4.mov">d</a><a href="/f/5.mkv">e</a><a href="/f/6.ogv">f</a>
        <a href="/f/7.avi">g</a><a href="/f/8.wmv">h</a><a href="/f/9.flv">i</a>
        <a href="/f/10.3gp">j</a><a href="/f/11.mpg">k</a><a href="/f/12.mpeg">l</a>
        <a href="/f/13.m3u8?sig=x">m</a><a href="/f/14.mpd">n</a>
        <a href="/f/page.html">page</a><a href="/f/photo.jpg">photo</a>
        <a href="/f/song.mp3">song</a><a href="/f/code.ts">typescript</a>
        <a href="/dl?id=9" type="video/mp4">typed download</a>
    """
    found = videos(html)
    assert [url for url, _s, _k in found] == [
        *(
            f"{ORIGIN}/f/{name}"
            for name in (
                "1.mp4", "2.M4V", "3.webm", "4.mov", "5.mkv", "6.ogv", "7.avi", "8.wmv",
                "9.flv", "10.3gp", "11.mpg", "12.mpeg", "13.m3u8?sig=x", "14.mpd",
            )
        ),
        f"{ORIGIN}/dl?id=9",
    ]  # fmt: skip
    assert {source for _u, source, _k in found} == {"link-href"}
    kinds = {url.rpartition("/")[2]: kind for url, _s, kind in found}
    assert kinds["13.m3u8?sig=x"] == "hls" and kinds["14.mpd"] == "dash"
    assert kinds["1.mp4"] == "file"
    # The image link is still an image, and only that.
    assert images(html) == [(f"{ORIGIN}/f/photo.jpg", "link-href")]


def test_link_preload_as_video_and_rel_video_src() -> None:
    html = """<head>
        <link rel="preload" as="video" href="/pre/clip.mp4" type="video/mp4">
        <link rel="preload" as="image" href="/pre/img.jpg">
        <link rel="video_src" href="/vs/old.flv">
        <link rel="video_src" href="https://player.example/embed/3">
    </head>"""
    ex = extract_images(html, BASE)
    assert [(v.url, v.source) for v in ex.videos] == [
        (f"{ORIGIN}/pre/clip.mp4", "preload"),
        (f"{ORIGIN}/vs/old.flv", "link-video-src"),
    ]
    assert ex.video_skipped == {"video_player_page": 1}
    assert [i.url for i in ex.images] == [f"{ORIGIN}/pre/img.jpg"]


def test_microdata_content_url() -> None:
    html = """<div itemscope itemtype="https://schema.org/VideoObject">
        <meta itemprop="contentUrl" content="/md/video.mp4">
        <meta itemprop="contentUrl" content="/md/image.jpg">
        <link itemprop="contentUrl" href="/md/other.webm">
        <meta itemprop="embedUrl" content="/md/embed/1">
    </div>"""
    assert videos(html) == [
        (f"{ORIGIN}/md/video.mp4", "microdata-content-url", "file"),
        (f"{ORIGIN}/md/other.webm", "microdata-content-url", "file"),
    ]


# --- URLs ------------------------------------------------------------------------------


def test_relative_urls_and_base_href() -> None:
    html = """<head><base href="https://cdn.example.net/media/">
        <meta property="og:video" content="og.mp4"></head>
        <video src="a.mp4"><source src="../b.webm"></video><a href="//other.example/c.mkv">x</a>"""
    assert [url for url, _s, _k in videos(html)] == [
        "https://cdn.example.net/media/og.mp4",
        "https://cdn.example.net/media/a.mp4",
        "https://cdn.example.net/b.webm",
        "https://other.example/c.mkv",
    ]


def test_fragments_are_removed_and_duplicates_keep_the_first_form() -> None:
    html = """<a href="/v/clip.mp4#t=5">x</a><video src="/v/clip.mp4"></video>
        <video><source src="/v/clip.mp4#t=1,2"></video>"""
    assert videos(html) == [(f"{ORIGIN}/v/clip.mp4", "link-href", "file")]


def test_data_and_blob_urls_are_skipped_and_counted() -> None:
    html = """
        <video src="data:video/mp4;base64,AAAAIGZ0eXBpc29t"></video>
        <video src="blob:https://example.com/6a2b-11"></video>
        <video><source src="BLOB:https://example.com/x" type="video/mp4"></video>
        <a href="data:video/webm;base64,GkXfo">inline</a>
        <a href="data:text/plain,hello.mp4">not a video</a>
        <video src="javascript:play()"></video>
        <video src="rtmp://live.example/app/stream"></video>
        <video src="http://[::1"></video>
        <video src="/ok.mp4"></video>
    """
    ex = extract_images(html, BASE)
    assert ex.videos == [VideoRef(f"{ORIGIN}/ok.mp4", "video-src", "file")]
    assert ex.video_skipped == {
        "video_data_url": 2,
        "video_blob_url": 2,
        "video_unsupported_scheme": 2,
        "video_invalid_url": 1,
    }
    assert ex.skipped == {}  # image accounting untouched


def test_too_long_video_url() -> None:
    html = '<video src="/' + "a" * 5000 + '.mp4"></video><video src="/short.mp4"></video>'
    ex = extract_images(html, BASE)
    assert [v.url for v in ex.videos] == [f"{ORIGIN}/short.mp4"]
    assert ex.video_skipped == {"video_too_long_url": 1}


# --- Caps --------------------------------------------------------------------------------


def test_max_videos_caps_and_counts_distinct_videos() -> None:
    html = "".join(f'<video src="/{n}.mp4"></video>' for n in (1, 2, 1, 3, 4, 3, 2))
    ex = extract_images(html, BASE, max_videos=2)
    assert [v.url for v in ex.videos] == [f"{ORIGIN}/1.mp4", f"{ORIGIN}/2.mp4"]
    assert ex.video_skipped == {"video_over_limit": 2}


def test_default_video_cap_is_independent_of_the_image_cap() -> None:
    html = "".join(f'<video src="/v/{n}.mp4" poster="/p/{n}.jpg"></video>' for n in range(150))
    ex = extract_images(html, BASE, max_images=3)
    assert len(ex.images) == 3 and ex.skipped == {"over_limit": 147}
    assert len(ex.videos) == 100
    assert ex.video_skipped == {"video_over_limit": 50}


def test_max_videos_zero() -> None:
    ex = extract_images('<video src="/a.mp4"></video><img src="/a.jpg">', BASE, max_videos=0)
    assert ex.videos == [] and ex.video_skipped == {"video_over_limit": 1}
    assert [i.url for i in ex.images] == [f"{ORIGIN}/a.jpg"]


def test_skip_reasons_still_counted_after_the_cap() -> None:
    html = '<video src="/1.mp4"></video><video src="/2.mp4"></video><video src="blob:x"></video>'
    ex = extract_images(html, BASE, max_videos=1)
    assert ex.video_skipped == {"video_over_limit": 1, "video_blob_url": 1}


# --- Helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/a.mp4",
        "https://x.example/v/A.WEBM?sig=1#t=3",
        "clip.mov",
        "/hls/index.m3u8",
        "/dash/stream.mpd?x=1",
        "https://x.example/v/movie.mkv;jsessionid=1",
    ],
)
def test_looks_like_video_url_true(url: str) -> None:
    assert looks_like_video_url(url)


@pytest.mark.parametrize(
    "url",
    ["/a.jpg", "/watch?v=1", "/embed/1", "/a.mp4/", "/song.mp3", "/a.html?f=x.mp4", "", "mp4"],
)
def test_looks_like_video_url_false(url: str) -> None:
    assert not looks_like_video_url(url)


@pytest.mark.parametrize(
    ("url", "type_", "kind"),
    [
        ("/a.mp4", None, "file"),
        ("/a.m3u8", None, "hls"),
        ("/a.M3U8?x", None, "hls"),
        ("/a.mpd", None, "dash"),
        ("/stream", "application/x-mpegURL", "hls"),
        ("/stream", "application/vnd.apple.mpegurl; charset=utf-8", "hls"),
        ("/stream", " Application/Dash+XML ", "dash"),
        ("/a.m3u8", "video/mp4", "hls"),
        ("/a.mp4", "application/dash+xml", "dash"),
        ("", "", "file"),
    ],
)
def test_video_kind(url: str, type_: str | None, kind: str) -> None:
    assert video_kind(url, type_) == kind


# --- Parsers: lxml and the fallback tokenizer agree ------------------------------------------

RICH_PAGE = """<!DOCTYPE html>
<html><head>
  <base href="/site/">
  <meta property="og:video" content="og.mp4">
  <meta property="og:video:type" content="video/mp4">
  <meta property="og:video" content="https://www.youtube.com/embed/x">
  <meta property="og:video:type" content="text/html">
  <meta name="twitter:player:stream" content="tw.m3u8">
  <link rel="preload" as="video" href="pre.webm">
</head>
<BODY>
  <!-- <video src="commented.mp4"></video> -->
  <script>var v = "<video src='no.mp4'>";</script>
  <VIDEO SRC = " a.mp4 " poster="poster.jpg">
    <source src="b.webm" type="video/webm"><source src="c.mp3" type="audio/mpeg">
    <source data-src="d.mov">
  </VIDEO>
  <audio><source src="e.mp4"></audio>
  <a href="f.mpd">dash</a><a href="g.html">page</a>
  <div data-src="h.mkv"></div>
  <video src="blob:https://example.com/1"></video>
  <video src="data:video/mp4;base64,AAAA"></video>
</BODY></html>"""

RICH_VIDEOS = [
    (f"{ORIGIN}/site/og.mp4", "og-video", "file"),
    (f"{ORIGIN}/site/tw.m3u8", "twitter-player-stream", "hls"),
    (f"{ORIGIN}/site/pre.webm", "preload", "file"),
    (f"{ORIGIN}/site/a.mp4", "video-src", "file"),
    (f"{ORIGIN}/site/b.webm", "video-source", "file"),
    (f"{ORIGIN}/site/d.mov", "lazy", "file"),
    (f"{ORIGIN}/site/f.mpd", "link-href", "dash"),
    (f"{ORIGIN}/site/h.mkv", "lazy", "file"),
]
RICH_VIDEO_SKIPPED = {"video_player_page": 1, "video_blob_url": 1, "video_data_url": 1}


def test_rich_page() -> None:
    ex = extract_images(RICH_PAGE, BASE)
    assert [(v.url, v.source, v.kind) for v in ex.videos] == RICH_VIDEOS
    assert ex.video_skipped == RICH_VIDEO_SKIPPED
    assert [(i.url, i.source) for i in ex.images] == [(f"{ORIGIN}/site/poster.jpg", "video-poster")]


def test_fallback_tokenizer_gives_the_same_videos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract, "_parse_with_lxml", lambda data: None)
    ex = extract_images(RICH_PAGE, BASE)
    assert [(v.url, v.source, v.kind) for v in ex.videos] == RICH_VIDEOS
    assert ex.video_skipped == RICH_VIDEO_SKIPPED


@pytest.mark.timeout(60)
def test_deeply_nested_markup_uses_the_fallback_and_still_finds_videos() -> None:
    # libxml2 gives up at 2048 levels; the fallback tokenizer takes over.
    depth = 50_000
    html = (
        '<meta property="og:video" content="/og.mp4">'
        + "<div>" * depth
        + '<video poster="/p.jpg"><source src="/deep.webm" type="video/webm"></video>'
        + '<a href="/deep.m3u8">x</a>'
        + "</div>" * depth
    )
    assert extract._parse_with_lxml(html.encode()) is None
    ex = extract_images(html, BASE)
    assert [(v.url, v.source, v.kind) for v in ex.videos] == [
        (f"{ORIGIN}/og.mp4", "og-video", "file"),
        (f"{ORIGIN}/deep.webm", "video-source", "file"),
        (f"{ORIGIN}/deep.m3u8", "link-href", "hls"),
    ]
    assert ex.images == [ImageRef(f"{ORIGIN}/p.jpg", "video-poster")]


@pytest.mark.timeout(60)
def test_many_video_references_stay_fast() -> None:
    html = "".join(f'<a href="/v/{n}.mp4">{n}</a>' for n in range(100_000))
    ex = extract_images(html, BASE, max_videos=10)
    assert [v.url for v in ex.videos] == [f"{ORIGIN}/v/{n}.mp4" for n in range(10)]
    assert ex.video_skipped == {"video_over_limit": 99_990}


@pytest.mark.timeout(60)
def test_a_five_megabyte_meta_run_is_linear() -> None:
    html = '<meta property="og:video:secure_url" content="/v.mp4">' * 100_000
    ex = extract_images(html, BASE)
    assert [v.url for v in ex.videos] == [f"{ORIGIN}/v.mp4"]


# --- Properties ---------------------------------------------------------------------------------

_MARKUP = list("<>/=\"' \t\n&#;:?.,") + [
    "<video ",
    "<source ",
    "</video>",
    "<audio>",
    "src=",
    "type=",
    "video/mp4",
    "text/html",
    "<meta property=og:video content=",
    "<meta property=og:video:type content=",
    "<a href=",
    "x.mp4",
    ".m3u8",
    "data:",
    "blob:",
    "http://",
    "//h/",
]


@fuzz_settings(300)
@given(
    st.lists(st.sampled_from(_MARKUP) | st.text(max_size=3), max_size=60).map("".join),
    st.sampled_from([BASE, "http://example.com", "", "file:///x"]),
    st.sampled_from([0, 1, 100]),
)
def test_videos_are_unique_resolved_and_accounted(html: str, base: str, cap: int) -> None:
    ex = extract_images(html, base, max_videos=cap)
    assert len(ex.videos) <= cap
    found = [v.url for v in ex.videos]
    assert len(found) == len(set(found))
    for video in ex.videos:
        check_resolved_url(video.url, 4096)
        assert video.source in VIDEO_SOURCES
        assert video.kind in VIDEO_KINDS
    for reason, count in ex.video_skipped.items():
        assert reason in VIDEO_SKIP_REASONS and count > 0
    assert set(ex.skipped) <= set(extract.SKIP_REASONS)


def test_video_sitemaps_name_their_files_not_their_players() -> None:
    from crawler.sitemaps import parse_sitemap

    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:video="http://www.google.com/schemas/sitemap-video/1.1">
  <url><loc>https://example.com/watch/1</loc>
    <video:video>
      <video:thumbnail_loc>https://example.com/t/1.jpg</video:thumbnail_loc>
      <video:content_loc>https://cdn.example.com/v/1.mp4</video:content_loc>
      <video:player_loc>https://example.com/player?v=1</video:player_loc>
    </video:video>
  </url>
  <url><loc>https://example.com/watch/2</loc></url>
  <content_loc>https://example.com/not-in-a-video-element.mp4</content_loc>
</urlset>"""
    sitemap = parse_sitemap(body, max_bytes=1 << 20)
    assert sitemap is not None
    assert sitemap.videos == ["https://cdn.example.com/v/1.mp4"]
    assert sitemap.pages == ["https://example.com/watch/1", "https://example.com/watch/2"]
