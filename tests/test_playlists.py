"""HLS playlists and DASH manifests: real-world shapes, DRM, live, caps, hostile input."""

from __future__ import annotations

import time

import pytest
from fuzz_profile import fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from crawler.playlists import (
    ERRORS,
    MAX_PLAYLIST_BYTES,
    DashManifest,
    HlsPlaylist,
    HlsVariant,
    PlaylistError,
    Segment,
    choose_variant,
    parse_dash,
    parse_hls,
    parse_iso_duration,
    segments_for,
)

HLS_BASE = "https://cdn.example.com/video/bipbop/master.m3u8"
DASH_BASE = "https://cdn.example.com/dash/title/manifest.mpd"

# --- HLS samples (the shapes of Apple's published examples) ---------------------------------

APPLE_MASTER = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-INDEPENDENT-SEGMENTS

#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud1",LANGUAGE="en",NAME="English",AUTOSELECT=YES,DEFAULT=YES,CHANNELS="2",URI="a1/prog_index.m3u8"
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="sub1",NAME="English",LANGUAGE="en",DEFAULT=YES,AUTOSELECT=YES,FORCED=NO,URI="s1/en/prog_index.m3u8"

#EXT-X-STREAM-INF:AVERAGE-BANDWIDTH=2168183,BANDWIDTH=2177116,CODECS="avc1.640020,mp4a.40.2",RESOLUTION=960x540,FRAME-RATE=60.000,CLOSED-CAPTIONS="cc1",AUDIO="aud1",SUBTITLES="sub1"
v5/prog_index.m3u8
#EXT-X-STREAM-INF:AVERAGE-BANDWIDTH=7968416,BANDWIDTH=8001098,CODECS="avc1.64002a,mp4a.40.2",RESOLUTION=1920x1080,FRAME-RATE=60.000,AUDIO="aud1"
v9/prog_index.m3u8
#EXT-X-STREAM-INF:AVERAGE-BANDWIDTH=6170000,BANDWIDTH=6312875,CODECS="avc1.64002a,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=60.000,AUDIO="aud1"
v8/prog_index.m3u8
#EXT-X-STREAM-INF:AVERAGE-BANDWIDTH=4670769,BANDWIDTH=4681569,CODECS="avc1.64002a,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=60.000,AUDIO="aud1"
v7/prog_index.m3u8
#EXT-X-STREAM-INF:AVERAGE-BANDWIDTH=580607,BANDWIDTH=1015727,CODECS="avc1.640015,mp4a.40.2",RESOLUTION=480x270,FRAME-RATE=30.000,AUDIO="aud1"
https://other.example.net/v2/prog_index.m3u8

#EXT-X-I-FRAME-STREAM-INF:AVERAGE-BANDWIDTH=186522,BANDWIDTH=287395,CODECS="avc1.64002a",RESOLUTION=1920x1080,URI="v9/iframe_index.m3u8"
"""

APPLE_MEDIA_FMP4 = """#EXTM3U
#EXT-X-TARGETDURATION:6
#EXT-X-VERSION:7
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="main.mp4",BYTERANGE="719@0"
#EXTINF:6.00000,
#EXT-X-BYTERANGE:1508000@719
main.mp4
#EXTINF:6.00000,
#EXT-X-BYTERANGE:1510000
main.mp4
#EXTINF:2.5,	title text
#EXT-X-BYTERANGE:400000@5000000
main.mp4
#EXT-X-ENDLIST
"""

MEDIA_TS = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:10
#EXT-X-MEDIA-SEQUENCE:0
#EXTINF:9.009,
segment0.ts
#EXTINF:9.009,
/abs/segment1.ts
#EXTINF:3.003,
https://edge.example.net/segment2.ts?token=abc
#EXT-X-ENDLIST
"""


def test_master_playlist_variants() -> None:
    master = parse_hls(APPLE_MASTER, HLS_BASE)
    assert master.kind == "master"
    assert master.segments == [] and master.init is None
    assert [(v.url, v.bandwidth, v.width, v.height) for v in master.variants] == [
        ("https://cdn.example.com/video/bipbop/v5/prog_index.m3u8", 2177116, 960, 540),
        ("https://cdn.example.com/video/bipbop/v9/prog_index.m3u8", 8001098, 1920, 1080),
        ("https://cdn.example.com/video/bipbop/v8/prog_index.m3u8", 6312875, 1280, 720),
        ("https://cdn.example.com/video/bipbop/v7/prog_index.m3u8", 4681569, 1280, 720),
        ("https://other.example.net/v2/prog_index.m3u8", 1015727, 480, 270),
    ]
    assert master.variants[0].codecs == "avc1.640020,mp4a.40.2"  # quoted commas kept
    assert not master.protected


def test_choose_variant_by_height() -> None:
    master = parse_hls(APPLE_MASTER, HLS_BASE)
    # Two 720p variants: the lower bandwidth one (more seconds under the byte cap).
    assert choose_variant(master).url.endswith("/v7/prog_index.m3u8")  # type: ignore[union-attr]
    assert choose_variant(master, max_height=1080).height == 1080  # type: ignore[union-attr]
    assert choose_variant(master, max_height=600).height == 540  # type: ignore[union-attr]
    # Nothing small enough: the smallest.
    assert choose_variant(master, max_height=100).height == 270  # type: ignore[union-attr]


def test_choose_variant_by_bandwidth_without_resolutions() -> None:
    master = HlsPlaylist(
        kind="master",
        variants=[
            HlsVariant(f"https://x.example/{b}.m3u8", bandwidth=b)
            for b in (800_000, 5_000_000, 2_500_000)
        ],
    )
    assert choose_variant(master).bandwidth == 2_500_000  # type: ignore[union-attr]
    assert choose_variant(master, max_bandwidth=100).bandwidth == 800_000  # type: ignore[union-attr]


def test_choose_variant_passes_over_audio_only_and_handles_empty() -> None:
    master = HlsPlaylist(
        kind="master",
        variants=[
            HlsVariant("https://x.example/audio.m3u8", bandwidth=64_000, codecs="mp4a.40.2"),
            HlsVariant(
                "https://x.example/video.m3u8", bandwidth=900_000, codecs="avc1.4d401e,mp4a.40.2"
            ),
        ],
    )
    assert choose_variant(master).url == "https://x.example/video.m3u8"  # type: ignore[union-attr]
    assert choose_variant(HlsPlaylist(kind="master")) is None


def test_media_playlist_segments() -> None:
    media = parse_hls(MEDIA_TS, "https://cdn.example.com/video/v1/prog_index.m3u8")
    assert media.kind == "media" and media.ended and not media.live
    assert media.target_duration == 10
    assert media.segments == [
        Segment("https://cdn.example.com/video/v1/segment0.ts", 9.009),
        Segment("https://cdn.example.com/abs/segment1.ts", 9.009),
        Segment("https://edge.example.net/segment2.ts?token=abc", 3.003),
    ]
    assert segments_for(media, None) == media.segments
    assert segments_for(media, 10.0) == media.segments[:2]  # the second starts at 9.009 s
    assert segments_for(media, 0.0) == []


def test_media_playlist_fmp4_with_map_and_byteranges() -> None:
    media = parse_hls(APPLE_MEDIA_FMP4, "https://cdn.example.com/v/prog_index.m3u8")
    url = "https://cdn.example.com/v/main.mp4"
    assert media.playlist_type == "VOD"
    assert media.init == Segment(url, 0.0, (0, 718), init=True)
    assert media.segments == [
        Segment(url, 6.0, (719, 719 + 1508000 - 1)),
        Segment(url, 6.0, (719 + 1508000, 719 + 1508000 + 1510000 - 1)),  # follows the previous
        Segment(url, 2.5, (5000000, 5399999)),
    ]
    assert segments_for(media, 7) == [media.init, *media.segments[:2]]


def test_live_and_event_playlists_are_flagged_not_refused() -> None:
    live = parse_hls(MEDIA_TS.replace("#EXT-X-ENDLIST\n", ""), HLS_BASE)
    assert live.live and len(live.segments) == 3
    event = parse_hls(
        MEDIA_TS.replace("#EXT-X-ENDLIST\n", "#EXT-X-PLAYLIST-TYPE:EVENT\n"), HLS_BASE
    )
    assert event.playlist_type == "EVENT" and event.live


@pytest.mark.parametrize(
    "key",
    [
        '#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/k1",IV=0x1234',
        '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://key42",KEYFORMAT="com.apple.streamingkeydelivery"',
        '#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI="skd://x"',
    ],
)
def test_encrypted_hls_is_protected(key: str) -> None:
    media = parse_hls(MEDIA_TS.replace("#EXT-X-MEDIA-SEQUENCE:0", key), HLS_BASE)
    assert media.protected
    assert segments_for(media) == []


def test_method_none_is_not_protected() -> None:
    media = parse_hls(
        MEDIA_TS.replace("#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-KEY:METHOD=NONE"), HLS_BASE
    )
    assert not media.protected and len(segments_for(media)) == 3


def test_master_with_session_key_is_protected() -> None:
    master = parse_hls(
        APPLE_MASTER.replace(
            "#EXT-X-INDEPENDENT-SEGMENTS", '#EXT-X-SESSION-KEY:METHOD=AES-128,URI="k"'
        ),
        HLS_BASE,
    )
    assert master.kind == "master" and master.protected


def test_master_playlist_gives_no_segments() -> None:
    assert segments_for(parse_hls(APPLE_MASTER, HLS_BASE)) == []


def test_bytes_bom_and_crlf() -> None:
    data = ("\ufeff" + MEDIA_TS).replace("\n", "\r\n").encode()
    assert len(parse_hls(data, HLS_BASE).segments) == 3


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "not_playlist"),
        ("<html><body>not found</body></html>", "not_playlist"),
        ("#EXTM3U\n#EXT-X-VERSION:3\n", "no_video"),
        ("#EXTM3U\n#EXTINF:5,\njavascript:alert(1)\n", "bad_uri"),
        ("#EXTM3U\n#EXTINF:5,\nfile:///etc/passwd\n", "bad_uri"),
        ('#EXTM3U\n#EXT-X-MAP:URI="data:x"\n#EXTINF:5,\na.ts\n', "bad_uri"),
        ("#EXTM3U\n#EXT-X-BYTERANGE:abc\n#EXTINF:5,\na.mp4\n", "not_playlist"),
        (
            "#EXTM3U\n#EXTINF:5,\n#EXT-X-BYTERANGE:100\na.mp4\n",
            "not_playlist",
        ),  # no offset to follow
    ],
)
def test_hls_refusals(text: str, kind: str) -> None:
    with pytest.raises(PlaylistError) as raised:
        parse_hls(text, HLS_BASE)
    assert raised.value.kind == kind
    assert isinstance(raised.value, ValueError)
    assert kind in ERRORS


def test_hls_bad_durations_are_unknown_not_fatal() -> None:
    media = parse_hls(
        "#EXTM3U\n#EXTINF:nan,\na.ts\n#EXTINF:-3,\nb.ts\n#EXTINF:inf,\nc.ts\n", HLS_BASE
    )
    assert [s.duration for s in media.segments] == [None, None, None]


def test_hls_too_large_is_refused() -> None:
    data = b"#EXTM3U\n" + b"#" * MAX_PLAYLIST_BYTES
    with pytest.raises(PlaylistError) as raised:
        parse_hls(data, HLS_BASE)
    assert raised.value.kind == "too_large"
    with pytest.raises(PlaylistError):
        parse_hls(MEDIA_TS, HLS_BASE, max_bytes=50)


def test_hls_segment_cap() -> None:
    text = "#EXTM3U\n" + "".join(f"#EXTINF:2,\ns{n}.ts\n" for n in range(5000)) + "#EXT-X-ENDLIST\n"
    media = parse_hls(text, HLS_BASE)
    assert len(media.segments) == 2000 and media.truncated
    assert media.segments[-1].url.endswith("/s1999.ts")
    assert media.ended  # tags after the cap are still read
    small = parse_hls(text, HLS_BASE, max_segments=3)
    assert [s.url.rpartition("/")[2] for s in small.segments] == ["s0.ts", "s1.ts", "s2.ts"]


def test_hls_duration_cap() -> None:
    text = "#EXTM3U\n" + "".join(f"#EXTINF:10,\ns{n}.ts\n" for n in range(100))
    media = parse_hls(text, HLS_BASE, max_duration=35)
    assert len(media.segments) == 4 and media.truncated  # 0, 10, 20, 30 s start before 35


@pytest.mark.timeout(30)
def test_hls_huge_lines_are_linear() -> None:
    text = "#EXTM3U\n#EXT-X-STREAM-INF:" + 'A="' * 400_000 + "\nv.m3u8\n"
    start = time.monotonic()
    master = parse_hls(text, HLS_BASE)
    assert master.variants[0].url.endswith("/v.m3u8")
    text = "#EXTM3U\n#EXTINF:" + "9" * 1_500_000 + ",\na.ts\n"
    assert parse_hls(text, HLS_BASE).segments[0].duration is None
    assert time.monotonic() - start < 10


# --- DASH samples ----------------------------------------------------------------------------

DASH_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011"
     type="static" mediaPresentationDuration="PT1M2.5S" minBufferTime="PT2S">
  <Period id="0" start="PT0S">
    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" lang="en">
      <SegmentTemplate timescale="48000" duration="192000" media="audio/$Number$.m4s" initialization="audio/init.mp4"/>
      <Representation id="a0" bandwidth="128000" codecs="mp4a.40.2"/>
    </AdaptationSet>
    <AdaptationSet id="2" contentType="video" mimeType="video/mp4" segmentAlignment="true">
      <SegmentTemplate timescale="90000" duration="360000" startNumber="1"
                       initialization="$RepresentationID$/init.mp4"
                       media="$RepresentationID$/$Bandwidth$/seg-$Number%05d$.m4s"/>
      <Representation id="v1080" bandwidth="6000000" width="1920" height="1080" codecs="avc1.640028"/>
      <Representation id="v720" bandwidth="3000000" width="1280" height="720" codecs="avc1.64001f"/>
      <Representation id="v360" bandwidth="800000" width="640" height="360" codecs="avc1.64001e"/>
    </AdaptationSet>
  </Period>
</MPD>"""


def test_dash_segment_template_number() -> None:
    manifest = parse_dash(DASH_TEMPLATE, DASH_BASE)
    assert manifest.representation is not None
    assert (manifest.representation.id, manifest.representation.height) == ("v720", 720)
    assert manifest.duration == 62.5
    assert manifest.init == Segment(
        "https://cdn.example.com/dash/title/v720/init.mp4", 0.0, None, init=True
    )
    prefix = "https://cdn.example.com/dash/title/v720/3000000/seg-"
    assert [s.url for s in manifest.segments] == [f"{prefix}{n:05d}.m4s" for n in range(1, 17)]
    assert [s.duration for s in manifest.segments] == [4.0] * 15 + [2.5]
    assert not manifest.protected and not manifest.truncated
    assert segments_for(manifest, 8.0) == [manifest.init, *manifest.segments[:2]]


def test_dash_max_height_choice() -> None:
    assert parse_dash(DASH_TEMPLATE, DASH_BASE, max_height=1080).representation.id == "v1080"  # type: ignore[union-attr]
    assert parse_dash(DASH_TEMPLATE, DASH_BASE, max_height=200).representation.id == "v360"  # type: ignore[union-attr]


DASH_TIMELINE = """<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT30S">
  <BaseURL>https://media.example.net/root/</BaseURL>
  <Period duration="PT20S">
    <BaseURL>p1/</BaseURL>
    <AdaptationSet mimeType="video/mp4">
      <SegmentTemplate timescale="1000" startNumber="10" presentationTimeOffset="5000"
                       media="v/$RepresentationID$-$Time$.m4s" initialization="v/$RepresentationID$-init.m4s">
        <SegmentTimeline>
          <S t="5000" d="4000" r="2"/>
          <S d="3000"/>
          <S d="1000" r="-1"/>
        </SegmentTimeline>
      </SegmentTemplate>
      <Representation id="hd" bandwidth="2000000" height="720"/>
    </AdaptationSet>
  </Period>
</MPD>"""


def test_dash_segment_timeline() -> None:
    manifest = parse_dash(DASH_TIMELINE, DASH_BASE)
    base = "https://media.example.net/root/p1/v/hd-"
    assert manifest.init is not None and manifest.init.url == base + "init.m4s"
    times = [5000, 9000, 13000, 17000, 20000, 21000, 22000, 23000, 24000]
    assert [s.url for s in manifest.segments] == [f"{base}{t}.m4s" for t in times]
    assert [s.duration for s in manifest.segments] == [4.0, 4.0, 4.0, 3.0] + [1.0] * 5
    assert manifest.duration == 20.0  # the period's, not the presentation's


def test_dash_timeline_number_and_huge_repeat_is_capped() -> None:
    text = DASH_TIMELINE.replace("$Time$", "$Number$").replace('r="2"', 'r="999999999999"')
    manifest = parse_dash(text, DASH_BASE, max_segments=3)
    assert [s.url.rpartition("/")[2] for s in manifest.segments] == [
        "hd-10.m4s",
        "hd-11.m4s",
        "hd-12.m4s",
    ]
    assert manifest.truncated
    # Without a segment cap, the period's declared 20 s ends the repeat.
    manifest = parse_dash(text, DASH_BASE)
    assert len(manifest.segments) == 5 and manifest.truncated
    assert manifest.segments[-1].url.endswith("/hd-14.m4s")
    # And with no declared duration at all, max_segments does.
    text = text.replace(' mediaPresentationDuration="PT30S"', "").replace(' duration="PT20S"', "")
    assert len(parse_dash(text, DASH_BASE).segments) == 2000


DASH_LIST = """<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT12S">
  <Period>
    <AdaptationSet contentType="video">
      <Representation id="1" mimeType="video/mp4" bandwidth="500000" width="640" height="360">
        <BaseURL>list/</BaseURL>
        <SegmentList timescale="10" duration="40">
          <Initialization sourceURL="init.mp4" range="0-861"/>
          <SegmentURL media="s1.m4s"/>
          <SegmentURL media="s2.m4s" mediaRange="100-199"/>
          <SegmentURL mediaRange="862-5000"/>
        </SegmentList>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>"""


def test_dash_segment_list() -> None:
    manifest = parse_dash(DASH_LIST, DASH_BASE)
    base = "https://cdn.example.com/dash/title/list/"
    assert manifest.init == Segment(base + "init.mp4", 0.0, (0, 861), init=True)
    assert manifest.segments == [
        Segment(base + "s1.m4s", 4.0),
        Segment(base + "s2.m4s", 4.0, (100, 199)),
        Segment(base, 4.0, (862, 5000)),  # no @media: the BaseURL itself
    ]


DASH_BASEURL = """<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT3M">
  <Period>
    <AdaptationSet mimeType="audio/mp4"><Representation id="a"><BaseURL>audio.mp4</BaseURL></Representation></AdaptationSet>
    <AdaptationSet mimeType="video/webm">
      <Representation id="low" bandwidth="300000" height="240"><BaseURL>video_240.webm</BaseURL>
        <SegmentBase indexRange="200-900"><Initialization range="0-199"/></SegmentBase></Representation>
      <Representation id="mid" bandwidth="900000" height="480"><BaseURL>https://files.example.org/video_480.webm</BaseURL></Representation>
    </AdaptationSet>
  </Period>
</MPD>"""


def test_dash_baseurl_only_is_one_whole_file() -> None:
    manifest = parse_dash(DASH_BASEURL, DASH_BASE)
    assert manifest.representation.id == "mid"  # type: ignore[union-attr]
    assert manifest.segments == [Segment("https://files.example.org/video_480.webm", 180.0)]
    assert manifest.init is None
    low = parse_dash(DASH_BASEURL, DASH_BASE, max_height=300)
    assert low.segments == [Segment("https://cdn.example.com/dash/title/video_240.webm", 180.0)]


def test_dash_content_protection() -> None:
    text = DASH_TEMPLATE.replace(
        '<AdaptationSet id="2" contentType="video" mimeType="video/mp4" segmentAlignment="true">',
        '<AdaptationSet id="2" contentType="video" mimeType="video/mp4">'
        '<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cenc"/>'
        '<ContentProtection schemeIdUri="urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"/>',
    )
    manifest = parse_dash(text, DASH_BASE)
    assert manifest.protected
    assert segments_for(manifest) == []
    # On the representation only:
    text = DASH_BASEURL.replace(
        "<BaseURL>https://files", '<ContentProtection schemeIdUri="x"/><BaseURL>https://files'
    )
    assert parse_dash(text, DASH_BASE).protected
    # Protection of the audio only does not make the video protected.
    text = DASH_BASEURL.replace(
        '<Representation id="a">', '<Representation id="a"><ContentProtection schemeIdUri="x"/>'
    )
    assert not parse_dash(text, DASH_BASE).protected


def test_dash_live_is_refused() -> None:
    text = DASH_TEMPLATE.replace(
        'type="static"', 'type="dynamic" availabilityStartTime="2026-01-01T00:00:00Z"'
    )
    with pytest.raises(PlaylistError) as raised:
        parse_dash(text, DASH_BASE)
    assert raised.value.kind == "live"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "not_playlist"),
        ("not xml at all", "not_playlist"),
        ("<html><body/></html>", "not_playlist"),
        ("<MPD><Period><AdaptationSet mimeType='audio/mp4'/></Period></MPD>", "no_video"),
        ("<MPD><Period><AdaptationSet mimeType='video/mp4'/></Period></MPD>", "no_video"),
        (
            "<MPD><Period><AdaptationSet mimeType='video/mp4'><SegmentTemplate media='$Number$.m4s' duration='4'/>"
            "<Representation id='x'/></AdaptationSet></Period></MPD>",
            "unsupported",  # $Number$ without any duration to count over
        ),
        (
            "<MPD mediaPresentationDuration='PT10S'><Period><AdaptationSet mimeType='video/mp4'>"
            "<SegmentTemplate media='$Number%0999999d$.m4s' duration='4'/><Representation id='x'/>"
            "</AdaptationSet></Period></MPD>",
            "unsupported",  # an absurd padding width
        ),
        (
            "<MPD mediaPresentationDuration='PT10S'><Period><AdaptationSet mimeType='video/mp4'>"
            "<Representation id='x'><BaseURL>javascript:alert(1)</BaseURL></Representation>"
            "</AdaptationSet></Period></MPD>",
            "bad_uri",
        ),
    ],
)
def test_dash_refusals(text: str, kind: str) -> None:
    with pytest.raises(PlaylistError) as raised:
        parse_dash(text, DASH_BASE)
    assert raised.value.kind == kind


def test_dash_xxe_is_not_resolved() -> None:
    text = """<?xml version="1.0"?>
<!DOCTYPE MPD [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<MPD type="static" mediaPresentationDuration="PT4S"><Period><AdaptationSet mimeType="video/mp4">
<Representation id="x"><BaseURL>https://h.example/&xxe;.mp4</BaseURL></Representation>
</AdaptationSet></Period></MPD>"""
    try:
        manifest = parse_dash(text, DASH_BASE)
    except PlaylistError:
        return  # refusing is fine too
    for segment in manifest.segments:
        assert "root:" not in segment.url


@pytest.mark.timeout(30)
def test_dash_billion_laughs_is_not_expanded() -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10 if n > 1 else "&lol;" * 10}">'
        for n in range(1, 10)
    )
    text = f"""<?xml version="1.0"?><!DOCTYPE MPD [{entities}]>
<MPD type="static" mediaPresentationDuration="PT4S"><Period><AdaptationSet mimeType="video/mp4">
<Representation id="x"><BaseURL>https://h.example/&lol9;.mp4</BaseURL></Representation>
</AdaptationSet></Period></MPD>"""
    try:
        manifest = parse_dash(text, DASH_BASE)
    except PlaylistError:
        return
    for segment in manifest.segments:
        assert len(segment.url) < 1000


@pytest.mark.timeout(30)
def test_dash_deeply_nested_is_refused() -> None:
    text = "<MPD>" + "<x>" * 100_000 + "</x>" * 100_000 + "</MPD>"
    with pytest.raises(PlaylistError) as raised:
        parse_dash(text, DASH_BASE)
    assert raised.value.kind == "not_playlist"


def test_dash_too_large_is_refused() -> None:
    with pytest.raises(PlaylistError) as raised:
        parse_dash(b"<MPD>" + b" " * MAX_PLAYLIST_BYTES + b"</MPD>", DASH_BASE)
    assert raised.value.kind == "too_large"


@pytest.mark.timeout(30)
def test_dash_huge_number_template_is_capped() -> None:
    text = (
        "<MPD mediaPresentationDuration='P1000Y'><Period><AdaptationSet mimeType='video/mp4'>"
        "<SegmentTemplate media='$Number$.m4s' duration='1' timescale='1000'/><Representation id='x'/>"
        "</AdaptationSet></Period></MPD>"
    )
    manifest = parse_dash(text, DASH_BASE)
    assert len(manifest.segments) == 2000 and manifest.truncated
    # max_duration caps declared media too: 10 s of 1 ms segments is 10000 > cap, 5 ms is 5.
    assert len(parse_dash(text, DASH_BASE, max_duration=0.005).segments) == 5


def test_dash_template_identifiers() -> None:
    text = (
        "<MPD mediaPresentationDuration='PT8S'><Period><AdaptationSet mimeType='video/mp4'>"
        "<SegmentTemplate media='$$x$$/$RepresentationID$/$Bandwidth%08d$/$Number%03d$.m4s' duration='4'/>"
        "<Representation id='r-1' bandwidth='12345'/></AdaptationSet></Period></MPD>"
    )
    manifest = parse_dash(text, DASH_BASE)
    assert [s.url for s in manifest.segments] == [
        "https://cdn.example.com/dash/title/$x$/r-1/00012345/001.m4s",
        "https://cdn.example.com/dash/title/$x$/r-1/00012345/002.m4s",
    ]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("PT1M2.5S", 62.5),
        ("PT0S", 0.0),
        ("PT2H", 7200.0),
        ("P1DT1S", 86401.0),
        ("PT1.25S", 1.25),
        ("P1W", 604800.0),
        (" PT10S ", 10.0),
        ("P", None),
        ("PT", None),
        ("P1DT", None),
        ("10S", None),
        ("PT-1S", None),
        ("garbage", None),
        ("", None),
        (None, None),
        ("P" + "9" * 100 + "Y", None),
    ],
)
def test_parse_iso_duration(value: str | None, seconds: float | None) -> None:
    assert parse_iso_duration(value) == seconds


# --- Properties ----------------------------------------------------------------------------

_HLS_PIECES = [
    "#EXTM3U\n",
    "#EXTINF:",
    "4.0,\n",
    "#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=1x1\n",
    "#EXT-X-BYTERANGE:",
    "10@0\n",
    "#EXT-X-MAP:URI=",
    '"i.mp4"\n',
    "#EXT-X-KEY:METHOD=AES-128\n",
    "#EXT-X-ENDLIST\n",
    "a.ts\n",
    "http://h/x.m3u8\n",
    "\n",
    ",",
    "@",
    '"',
]
_DASH_PIECES = [
    "<MPD",
    " type='static'",
    " mediaPresentationDuration='PT9S'",
    ">",
    "<Period>",
    "<AdaptationSet mimeType='video/mp4'>",
    "<SegmentTemplate media='$Number$-$Time$.m4s' duration='2'",
    "<SegmentTimeline>",
    "<S d='1' r='-1'/>",
    "<S t='3' d='2'/>",
    "</SegmentTimeline>",
    "</SegmentTemplate>",
    "<Representation id='r' height='9'",
    "<BaseURL>b/</BaseURL>",
    "<SegmentList><SegmentURL media='s' mediaRange='1-2'/>",
    "</SegmentList>",
    "/>",
    "</Representation></AdaptationSet></Period></MPD>",
    "<ContentProtection/>",
]


def _check(result: HlsPlaylist | DashManifest) -> None:
    for segment in segments_for(result):
        assert segment.url.startswith(("http://", "https://"))
        if segment.byte_range is not None:
            assert 0 <= segment.byte_range[0] <= segment.byte_range[1]
    assert len(result.segments) <= 2000


@fuzz_settings(300)
@given(st.lists(st.sampled_from(_HLS_PIECES) | st.text(max_size=4), max_size=40).map("".join))
def test_hls_never_raises_anything_but_playlist_error(text: str) -> None:
    try:
        _check(parse_hls(text, HLS_BASE))
    except PlaylistError as exc:
        assert exc.kind in ERRORS


@fuzz_settings(300)
@given(st.lists(st.sampled_from(_DASH_PIECES) | st.text(max_size=4), max_size=40).map("".join))
def test_dash_never_raises_anything_but_playlist_error(text: str) -> None:
    try:
        _check(parse_dash(text, DASH_BASE))
    except PlaylistError as exc:
        assert exc.kind in ERRORS


@fuzz_settings(200)
@given(st.binary(max_size=500))
def test_arbitrary_bytes(data: bytes) -> None:
    for parse in (parse_hls, parse_dash):
        try:
            parse(data, HLS_BASE)
        except PlaylistError as exc:
            assert exc.kind in ERRORS
