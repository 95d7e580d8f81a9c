"""Image discovery in HTML: every reference form, URL normalization, skips, hostile input."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest
from w3lib.url import safe_url_string

from crawler import extract
from crawler.extract import (
    IMAGE_EXTENSIONS,
    SKIP_REASONS,
    SOURCES,
    Extraction,
    ImageRef,
    extract_css_urls,
    extract_images,
    looks_like_image_url,
    parse_srcset,
)

BASE = "https://example.com/dir/page.html"
ORIGIN = "https://example.com"

LAZY_URL_ATTRS = (
    "data-src",
    "data-lazy-src",
    "data-original",
    "data-lazy",
    "data-url",
    "data-hi-res-src",
    "data-full-src",
    "data-bg",
    "data-background",
    "data-background-image",
)
LAZY_SRCSET_ATTRS = ("data-srcset", "data-lazy-srcset", "data-original-set")


def found(html: str | bytes, base: str = BASE, **kwargs: int) -> list[tuple[str, str]]:
    """(url, source) pairs, in order."""
    return [(ref.url, ref.source) for ref in extract_images(html, base, **kwargs).images]


def urls(html: str | bytes, base: str = BASE, **kwargs: int) -> list[str]:
    return [ref.url for ref in extract_images(html, base, **kwargs).images]


# --- Public surface --------------------------------------------------------------


def test_public_constants() -> None:
    assert SOURCES == (
        "img-src",
        "srcset",
        "picture-source",
        "lazy",
        "og-image",
        "twitter-image",
        "link-image-src",
        "preload",
        "css-style-attr",
        "css-style-block",
        "link-href",
        "video-poster",
        "input-image",
        "svg-image",
    )
    assert SKIP_REASONS == (
        "data_url",
        "unsupported_scheme",
        "invalid_url",
        "too_long_url",
        "svg",
        "over_limit",
    )
    assert {"jpg", "jpeg", "png", "gif", "webp", "avif", "heic", "tiff", "bmp"} <= IMAGE_EXTENSIONS
    assert "svg" not in IMAGE_EXTENSIONS


def test_results_are_plain_dataclasses() -> None:
    ex = extract_images('<img src="/a.jpg">', BASE)
    assert ex == Extraction(images=[ImageRef(f"{ORIGIN}/a.jpg", "img-src")], skipped={})
    with pytest.raises(AttributeError):
        ex.images[0].url = "x"  # type: ignore[misc]  # frozen


# --- One test per discovery form --------------------------------------------------


def test_img_src() -> None:
    html = '<img src="a.jpg"><img src="/b.png"><img src="https://cdn.example.net/c.webp">'
    assert found(html) == [
        (f"{ORIGIN}/dir/a.jpg", "img-src"),
        (f"{ORIGIN}/b.png", "img-src"),
        ("https://cdn.example.net/c.webp", "img-src"),
    ]


def test_img_srcset_every_candidate() -> None:
    html = '<img srcset="s-1.jpg 1x, /s-2.jpg 2x, https://cdn.example.net/s-3.jpg 640w">'
    assert found(html) == [
        (f"{ORIGIN}/dir/s-1.jpg", "srcset"),
        (f"{ORIGIN}/s-2.jpg", "srcset"),
        ("https://cdn.example.net/s-3.jpg", "srcset"),
    ]


def test_source_srcset_outside_picture() -> None:
    html = '<div><source srcset="/x.jpg 1x, /y.jpg 2x"></div>'
    assert found(html) == [(f"{ORIGIN}/x.jpg", "srcset"), (f"{ORIGIN}/y.jpg", "srcset")]


def test_picture_source_srcset_and_src() -> None:
    html = """<picture>
        <source srcset="/p-1.avif 1x, /p-2.avif 2x" type="image/avif">
        <source src="/p-3.jpg">
        <img src="/p.jpg">
    </picture>"""
    assert found(html) == [
        (f"{ORIGIN}/p-1.avif", "picture-source"),
        (f"{ORIGIN}/p-2.avif", "picture-source"),
        (f"{ORIGIN}/p-3.jpg", "picture-source"),
        (f"{ORIGIN}/p.jpg", "img-src"),
    ]


@pytest.mark.parametrize("attr", LAZY_URL_ATTRS)
def test_lazy_url_attribute_on_img_accepts_any_url(attr: str) -> None:
    # No extension: on <img> the element itself says "image".
    assert found(f'<img {attr}="/lazy/12345">') == [(f"{ORIGIN}/lazy/12345", "lazy")]


@pytest.mark.parametrize("attr", LAZY_SRCSET_ATTRS)
def test_lazy_srcset_attribute_on_img_every_candidate(attr: str) -> None:
    assert found(f'<img {attr}="/lazy/a 1x, /lazy/b 2x">') == [
        (f"{ORIGIN}/lazy/a", "lazy"),
        (f"{ORIGIN}/lazy/b", "lazy"),
    ]


def test_lazy_attributes_on_source_and_picture_accept_any_url() -> None:
    html = '<picture data-src="/lazy/pic"><source data-srcset="/lazy/src 2x"></picture>'
    assert found(html) == [(f"{ORIGIN}/lazy/pic", "lazy"), (f"{ORIGIN}/lazy/src", "lazy")]


def test_lazy_img_with_data_url_placeholder() -> None:
    html = '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="/real.jpg">'
    ex = extract_images(html, BASE)
    assert [(r.url, r.source) for r in ex.images] == [(f"{ORIGIN}/real.jpg", "lazy")]
    assert ex.skipped == {"data_url": 1}


def test_lazy_attributes_on_other_elements_need_an_image_extension() -> None:
    html = """
        <div data-src="/d/photo.JPG"></div>
        <div data-bg="/d/no-extension"></div>
        <iframe data-src="https://video.example/embed/1"></iframe>
        <iframe data-src="/player.html"></iframe>
        <section data-background-image="url('/d/bg.webp')"></section>
        <span data-srcset="/d/s.png 1x, /d/page 2x"></span>
        <a data-url="/d/article.html" href="/x"></a>
    """
    ex = extract_images(html, BASE)
    assert [(r.url, r.source) for r in ex.images] == [
        (f"{ORIGIN}/d/photo.JPG", "lazy"),
        (f"{ORIGIN}/d/bg.webp", "lazy"),
        (f"{ORIGIN}/d/s.png", "lazy"),
    ]
    assert ex.skipped == {}


def test_lazy_source_of_a_video_is_not_an_image() -> None:
    html = '<video><source data-src="/clip.mp4"><source data-src="/still.jpg"></video>'
    assert found(html) == [(f"{ORIGIN}/still.jpg", "lazy")]


def test_og_image_meta() -> None:
    html = """<head>
        <meta property="og:image" content="/og-1.jpg">
        <meta property="og:image:url" content="https://cdn.example.net/og-2.jpg">
        <meta property="og:image:secure_url" content="https://cdn.example.net/og-3.jpg">
        <meta property="og:title" content="/not-an-image.jpg">
        <meta property="og:image:width" content="1200">
    </head>"""
    assert found(html) == [
        (f"{ORIGIN}/og-1.jpg", "og-image"),
        ("https://cdn.example.net/og-2.jpg", "og-image"),
        ("https://cdn.example.net/og-3.jpg", "og-image"),
    ]


def test_twitter_image_meta_by_name_or_property() -> None:
    html = """<head>
        <meta name="twitter:image" content="/tw-1.png">
        <meta property="twitter:image:src" content="/tw-2.png">
        <meta name="twitter:card" content="summary_large_image">
    </head>"""
    assert found(html) == [
        (f"{ORIGIN}/tw-1.png", "twitter-image"),
        (f"{ORIGIN}/tw-2.png", "twitter-image"),
    ]


def test_link_rel_image_src() -> None:
    html = """<head>
        <link rel="image_src" href="/share.jpg">
        <link rel="stylesheet" href="/site.css">
        <link rel="canonical" href="/canonical.jpg">
    </head>"""
    assert found(html) == [(f"{ORIGIN}/share.jpg", "link-image-src")]


def test_link_preload_image_href_and_imagesrcset() -> None:
    html = """<head>
        <link rel="preload" as="image" href="/hero.jpg" imagesrcset="/hero-1.jpg 1x, /hero-2.jpg 2x">
        <link rel="preload" as="font" href="/font.png">
        <link rel="preload" as="image" imagesrcset="/only-set.webp 480w">
    </head>"""
    assert found(html) == [
        (f"{ORIGIN}/hero.jpg", "preload"),
        (f"{ORIGIN}/hero-1.jpg", "preload"),
        (f"{ORIGIN}/hero-2.jpg", "preload"),
        (f"{ORIGIN}/only-set.webp", "preload"),
    ]


def test_css_in_style_attributes() -> None:
    html = """
        <div style="background-image: url('/bg/a.jpg'), url(/bg/b)"></div>
        <p style="background: #fff url(&quot;/bg/c.png&quot;) no-repeat"></p>
        <span style="font: 12px url(/fonts/f.woff2)"></span>
    """
    assert found(html) == [
        (f"{ORIGIN}/bg/a.jpg", "css-style-attr"),
        (f"{ORIGIN}/bg/b", "css-style-attr"),
        (f"{ORIGIN}/bg/c.png", "css-style-attr"),
    ]


def test_css_in_style_blocks_keeps_images_skips_fonts_and_stylesheets() -> None:
    html = """<style>
        @import url("/s/other.css");
        .hero { background: url("/s/hero.png") }
        @font-face { src: url(/s/f.woff2) format("woff2"), url(/s/f.woff), url(/s/f.ttf),
                          url(/s/f.otf), url(/s/f.eot) }
        .cdn { background-image: url(https://img.example.net/i/98765) }
        .icon { mask: url(/s/mask.svg) }
        .inline { background: url(data:image/png;base64,iVBORw0KGgo=) }
        @font-face { src: url(data:font/woff2;base64,d09GMgABAAAAA) }
    </style>"""
    ex = extract_images(html, BASE)
    assert [(r.url, r.source) for r in ex.images] == [
        (f"{ORIGIN}/s/hero.png", "css-style-block"),
        ("https://img.example.net/i/98765", "css-style-block"),
    ]
    # The svg and the inline png are images we could not use; fonts are not images.
    assert ex.skipped == {"svg": 1, "data_url": 1}


def test_plain_links_to_image_files() -> None:
    html = """
        <a href="/photos/1.jpg">one</a>
        <a href="/photos/2.PNG?size=large#top">two</a>
        <a href="/page.html">page</a>
        <a href="/photos/3">no extension</a>
        <a href="mailto:someone@example.com">mail</a>
        <a href="javascript:void(0)">js</a>
    """
    ex = extract_images(html, BASE)
    assert [(r.url, r.source) for r in ex.images] == [
        (f"{ORIGIN}/photos/1.jpg", "link-href"),
        (f"{ORIGIN}/photos/2.PNG?size=large", "link-href"),
    ]
    assert ex.skipped == {}  # links that aren't images are not "skipped images"


def test_video_poster() -> None:
    html = '<video poster="/v/poster.jpg"><source src="/v/clip.mp4" type="video/mp4"></video>'
    assert found(html) == [(f"{ORIGIN}/v/poster.jpg", "video-poster")]


def test_input_type_image() -> None:
    html = """
        <input type="image" src="/btn.gif">
        <input type=" IMAGE " src="/btn-2.gif">
        <input type="text" src="/not.gif">
    """
    assert found(html) == [
        (f"{ORIGIN}/btn.gif", "input-image"),
        (f"{ORIGIN}/btn-2.gif", "input-image"),
    ]


def test_svg_image_href_and_xlink_href() -> None:
    html = """<svg xmlns:xlink="http://www.w3.org/1999/xlink">
        <image href="/svg/a.png" width="10" height="10"/>
        <image xlink:href="/svg/b.jpg"/>
    </svg>"""
    assert found(html) == [
        (f"{ORIGIN}/svg/a.png", "svg-image"),
        (f"{ORIGIN}/svg/b.jpg", "svg-image"),
    ]


def test_images_inside_noscript_and_template_are_found() -> None:
    html = '<noscript><img src="/ns.jpg"></noscript><template><img src="/tpl.jpg"></template>'
    assert urls(html) == [f"{ORIGIN}/ns.jpg", f"{ORIGIN}/tpl.jpg"]


def test_markup_in_script_is_not_parsed() -> None:
    assert urls('<script>document.write("<img src=/js.jpg>")</script><img src="/real.jpg">') == [
        f"{ORIGIN}/real.jpg"
    ]


# --- Base URL and normalization -------------------------------------------------


def test_base_href_is_resolved_against_the_page_url() -> None:
    html = '<head><base href="/assets/"></head><img src="a.jpg"><img src="/root.jpg">'
    assert urls(html) == [f"{ORIGIN}/assets/a.jpg", f"{ORIGIN}/root.jpg"]


def test_first_base_href_wins_and_applies_to_the_whole_document() -> None:
    html = """<img src="early.jpg">
        <base target="_blank">
        <base href="https://cdn.example.net/one/">
        <base href="https://other.example/two/">
        <img src="late.jpg">"""
    assert urls(html) == [
        "https://cdn.example.net/one/early.jpg",
        "https://cdn.example.net/one/late.jpg",
    ]


@pytest.mark.parametrize("href", ["javascript:alert(1)", "http://[::1", "data:text/html,x", ""])
def test_unusable_base_href_is_ignored(href: str) -> None:
    assert urls(f'<base href="{href}"><img src="x.jpg">') == [f"{ORIGIN}/dir/x.jpg"]


def test_relative_urls_with_dot_segments() -> None:
    html = '<img src="../up.jpg"><img src="../../../../top.jpg"><img src="./same.jpg">'
    assert urls(html) == [f"{ORIGIN}/up.jpg", f"{ORIGIN}/top.jpg", f"{ORIGIN}/dir/same.jpg"]


def test_protocol_relative_urls_take_the_page_scheme() -> None:
    html = '<img src="//cdn.example.net/x.jpg">'
    assert urls(html) == ["https://cdn.example.net/x.jpg"]
    assert urls(html, base="http://example.com/") == ["http://cdn.example.net/x.jpg"]


def test_whitespace_newlines_and_entities_in_attribute_values() -> None:
    html = (
        '<img src="  /a\n/b.jpg\t ">'
        '<img src="\n  https://cdn.example.net/c.jpg\n">'
        '<img src="/x.jpg?a=1&amp;b=2&#38;c=3">'
    )
    assert urls(html) == [
        f"{ORIGIN}/a/b.jpg",
        "https://cdn.example.net/c.jpg",
        f"{ORIGIN}/x.jpg?a=1&b=2&c=3",
    ]


def test_fragments_are_removed() -> None:
    assert urls('<img src="/x.jpg#frag"><img src="/y.jpg?q=1#a#b">') == [
        f"{ORIGIN}/x.jpg",
        f"{ORIGIN}/y.jpg?q=1",
    ]
    assert urls('<img src="x.jpg">', base=BASE + "#section") == [f"{ORIGIN}/dir/x.jpg"]


def test_fragment_only_and_empty_references_are_ignored() -> None:
    ex = extract_images('<img src=""><img src="   "><img src="#top"><img>', BASE)
    assert ex == Extraction()


def test_uppercase_tags_and_attributes_and_spaces_around_equals() -> None:
    html = '<IMG SRC="/U.JPG"><PICTURE><SOURCE SRCSET="/P.AVIF"></PICTURE><img   src = "  /sp.jpg  "  >'
    assert found(html) == [
        (f"{ORIGIN}/U.JPG", "img-src"),
        (f"{ORIGIN}/P.AVIF", "picture-source"),
        (f"{ORIGIN}/sp.jpg", "img-src"),
    ]


def test_non_ascii_urls_are_percent_encoded_and_hosts_idna_encoded() -> None:
    html = '<img src="/fotos/café ñ.jpg"><img src="https://bücher.example/x.jpg">'
    assert urls(html) == [
        f"{ORIGIN}/fotos/caf%C3%A9%20%C3%B1.jpg",
        "https://xn--bcher-kva.example/x.jpg",
    ]


def test_backslashes_are_read_as_slashes_like_browsers_do() -> None:
    assert urls('<img src="..\\up\\x.jpg">') == [f"{ORIGIN}/up/x.jpg"]


# --- Dedup, order, skips, limits -------------------------------------------------------


def test_dedup_keeps_the_first_source() -> None:
    html = """<head><meta property="og:image" content="/same.jpg"></head>
        <img src="/same.jpg"><a href="/same.jpg">x</a>"""
    assert found(html) == [(f"{ORIGIN}/same.jpg", "og-image")]


def test_dedup_across_spellings_of_the_same_url() -> None:
    html = """<img src="/dir/x.jpg"><img src="x.jpg"><img src="https://example.com/dir/x.jpg#f">
        <img src="//example.com/dir/x.jpg"><img srcset="x.jpg 2x">"""
    assert found(html) == [(f"{ORIGIN}/dir/x.jpg", "img-src")]


def test_document_order_across_forms_and_within_an_element() -> None:
    html = """<body>
        <img src="/1.jpg" srcset="/2.jpg 2x" data-src="/3.jpg" style="background:url(/4.jpg)">
        <div style="background:url(/5.jpg)"></div>
        <style>.a { background: url(/6.jpg) }</style>
        <a href="/7.jpg">x</a>
        <video poster="/8.jpg"></video>
    </body>"""
    assert urls(html) == [f"{ORIGIN}/{n}.jpg" for n in range(1, 9)]


def test_skip_counts_per_reason() -> None:
    long_path = "/" + "a" * 5000 + ".jpg"
    html = f"""
        <img src="data:image/png;base64,iVBORw0KGgo=">
        <img srcset="data:image/png;base64,AAA= 1x, data:image/png;base64,BBB= 2x">
        <img src="javascript:alert(1)">
        <img src="file:///etc/passwd">
        <img src="ftp://ftp.example/x.jpg">
        <img src="blob:https://example.com/6a2b">
        <img src="http://[::1">
        <img src="http://">
        <img src="https://example.com:99999/x.jpg">
        <img src="{long_path}">
        <img src="/logo.svg">
        <img src="/logo.SVGZ?v=2">
        <img src="/ok.jpg">
    """
    ex = extract_images(html, BASE)
    assert ex.images == [ImageRef(f"{ORIGIN}/ok.jpg", "img-src")]
    assert ex.skipped == {
        "data_url": 3,
        "unsupported_scheme": 4,
        "invalid_url": 3,
        "too_long_url": 1,
        "svg": 2,
    }


def test_max_url_length_is_configurable() -> None:
    html = '<img src="/short.jpg"><img src="/a-name-well-over-thirty-characters.jpg">'
    ex = extract_images(html, BASE, max_url_length=30)
    assert [r.url for r in ex.images] == [f"{ORIGIN}/short.jpg"]
    assert ex.skipped == {"too_long_url": 1}


def test_over_limit_counts_distinct_images_after_the_cap() -> None:
    html = "".join(f'<img src="/{n}.jpg">' for n in (1, 2, 1, 3, 4, 3, 2))
    ex = extract_images(html, BASE, max_images=2)
    assert [r.url for r in ex.images] == [f"{ORIGIN}/1.jpg", f"{ORIGIN}/2.jpg"]
    assert ex.skipped == {"over_limit": 2}


def test_other_skip_reasons_still_counted_after_the_cap() -> None:
    html = (
        '<img src="/1.jpg"><img src="/2.jpg"><img src="data:image/png;base64,AA"><img src="/x.svg">'
    )
    ex = extract_images(html, BASE, max_images=1)
    assert [r.url for r in ex.images] == [f"{ORIGIN}/1.jpg"]
    assert ex.skipped == {"over_limit": 1, "data_url": 1, "svg": 1}


def test_max_images_zero_returns_nothing() -> None:
    ex = extract_images('<img src="/1.jpg"><img src="/2.jpg">', BASE, max_images=0)
    assert ex == Extraction(images=[], skipped={"over_limit": 2})


# --- parse_srcset -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a.jpg", ["a.jpg"]),
        ("a.jpg 1x, b.jpg 2x", ["a.jpg", "b.jpg"]),
        ("a.jpg 100w, b.jpg 200w, c.jpg 300w", ["a.jpg", "b.jpg", "c.jpg"]),
        ("a.jpg 100w 50h", ["a.jpg"]),
        # Commas inside a URL are part of it (Cloudinary/imgix transformations).
        (
            (
                "https://res.cloudinary.com/demo/image/upload/w_100,h_50,c_fill/s.jpg 100w,"
                "https://res.cloudinary.com/demo/image/upload/w_200,h_100/s.jpg 200w"
            ),
            [
                "https://res.cloudinary.com/demo/image/upload/w_100,h_50,c_fill/s.jpg",
                "https://res.cloudinary.com/demo/image/upload/w_200,h_100/s.jpg",
            ],
        ),
        ("a.jpg,b.jpg", ["a.jpg,b.jpg"]),  # no space after the comma: one URL
        ("a.jpg, b.jpg", ["a.jpg", "b.jpg"]),
        ("a.jpg,", ["a.jpg"]),  # trailing commas end a candidate
        ("a,,b,, 1x, c", ["a,,b", "1x", "c"]),
        ("  a.jpg   1x  ,   b.jpg    2x  ", ["a.jpg", "b.jpg"]),
        ("\n\ta.jpg\n1x,\n\tb.jpg\n2x\n", ["a.jpg", "b.jpg"]),
        ("a.jpg,,, ,b.jpg", ["a.jpg", "b.jpg"]),  # empty candidates
        (",a.jpg", ["a.jpg"]),
        ("", []),
        ("   ", []),
        (", , ,", []),
        ("a.jpg (x, y) 1x, b.jpg", ["a.jpg", "b.jpg"]),  # commas in parentheses
        ("a.jpg (unclosed, b.jpg 2x", ["a.jpg"]),
        ("a.jpg 1x b.jpg 2x", ["a.jpg"]),  # missing comma: the rest is descriptors
        ("a.jpg 1.5x, b.jpg foo", ["a.jpg", "b.jpg"]),  # odd descriptors: kept anyway
        ("data:image/png;base64,AAA= 1x, c.jpg 2x", ["data:image/png;base64,AAA=", "c.jpg"]),
        ("))) ((( ,,, \x00 \x7f", [")))"]),  # "(" opens a descriptor running to the end
        ("\x00 \x7f, ((", ["\x00", "(("]),
    ],
)
def test_parse_srcset(value: str, expected: list[str]) -> None:
    assert parse_srcset(value) == expected


def test_srcset_comma_urls_are_resolved_in_pages() -> None:
    html = '<img srcset="https://res.cloudinary.com/d/w_100,h_50/s.jpg 1x, /t.jpg 2x">'
    assert urls(html) == ["https://res.cloudinary.com/d/w_100,h_50/s.jpg", f"{ORIGIN}/t.jpg"]


# --- extract_css_urls -------------------------------------------------------------


@pytest.mark.parametrize(
    ("css", "expected"),
    [
        ("a{background:url(a.png)}", ["a.png"]),
        ("""a{background:url("a.png")} b{background:url('b.png')}""", ["a.png", "b.png"]),
        ("a{background:url(  'a.png'  )}", ["a.png"]),
        ("a{background:url(  a.png  )}", ["a.png"]),
        ("a{background:URL(A.PNG)}", ["A.PNG"]),
        ("a{background:url(a.png), url(b.png) , url(c.png)}", ["a.png", "b.png", "c.png"]),
        ("a{background:url(a.png)url(b.png)}", ["a.png", "b.png"]),
        # Escapes: quote, space, hex (with its terminating space), escaped newline.
        (r'a{b:url("a\"b.png")}', ['a"b.png']),
        (r"a{b:url(a\ b.png)}", ["a b.png"]),
        (r"a{b:url(a\(1\).png)}", ["a(1).png"]),
        (r'a{b:url("\61 .png")}', ["a.png"]),
        (r'a{b:url("\000041.png")}', ["A.png"]),
        ('a{b:url("x\\\ny.png")}', ["xy.png"]),
        ('a{b:image-set("a.png" 1x, "b.png" 2x)}', ["a.png", "b.png"]),
        ("a{b:-webkit-image-set(url(a.png) 1x, 'b.png' 2x)}", ["a.png", "b.png"]),
        ('a{b:image-set("a.avif" type("image/avif") 1x, "b.jpg" 2x)}', ["a.avif", "b.jpg"]),
        ('a{b:image-set(url("a.png") 1x); content:"c.png"}', ["a.png"]),
        ("/* url(no.png) */ a{b:url(yes.png)}", ["yes.png"]),
        ('a{content:"/*"} b{c:url(yes.png)}', ["yes.png"]),  # "/*" in a string is not a comment
        ('a{content:"x.png"; quotes:"url(no.png)"}', []),
        ("a{b:myurl(no.png); c:sourl(no.png)}", []),
        ("a{b:url(a b.png) url(c.png)}", ["c.png"]),  # bad url swallowed up to ")"
        ("a{b:url()} c{d:url('')}", []),
        ('a{b:url("unterminated.png', []),
        ("a{b:url(", []),
        ('a{b:image-set("open.png" 1x', ["open.png"]),
        ("/* unterminated comment url(x.png)", []),
        ("", []),
    ],
)
def test_extract_css_urls(css: str, expected: list[str]) -> None:
    assert extract_css_urls(css) == expected


def test_css_urls_in_lazy_background_attributes() -> None:
    html = """<div data-bg="url('/bg/one.jpg')"></div>
        <img data-background="url(&quot;/bg/two&quot;), url(/bg/font.woff2)">"""
    assert found(html) == [(f"{ORIGIN}/bg/one.jpg", "lazy"), (f"{ORIGIN}/bg/two", "lazy")]


# --- looks_like_image_url ------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "a.jpg",
        "/x/y.JPEG",
        "https://example.com/p.png?w=100",
        "https://example.com/p.webp#frag",
        "https://example.com/p.AVIF?x=1.html",
        "https://pbs.example.com/media/p.jpg:large",
        "https://example.com/p.gif;jsessionid=123",
        "//cdn.example.net/a.heic",
        "photo.tiff",
    ],
)
def test_looks_like_image_url_true(url: str) -> None:
    assert looks_like_image_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "a.svg",
        "a.html",
        "https://example.com/",
        "https://img.jpg",  # the host, not the path
        "https://example.com/a.jpg/",
        "https://example.com/page?img=a.jpg",
        "https://example.com/page#a.jpg",
        "data:image/png;base64,AAAA",
        "/fonts/f.woff2",
        "/jpg",
    ],
)
def test_looks_like_image_url_false(url: str) -> None:
    assert not looks_like_image_url(url)


# --- Encodings --------------------------------------------------------------------


def test_bytes_with_meta_charset() -> None:
    html = '<meta charset="iso-8859-1"><img src="/café.jpg" alt="ü">'.encode("latin-1")
    assert urls(html) == [f"{ORIGIN}/caf%C3%A9.jpg"]


def test_bytes_with_http_equiv_charset() -> None:
    html = (
        '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
        '<img src="/фото.jpg">'
    ).encode("cp1251")
    assert urls(html) == [f"{ORIGIN}/%D1%84%D0%BE%D1%82%D0%BE.jpg"]


def test_bytes_default_to_utf8_with_replacement() -> None:
    assert urls('<img src="/café.jpg">'.encode()) == [f"{ORIGIN}/caf%C3%A9.jpg"]
    assert urls(b'<img src="/caf\xe9.jpg">') == [f"{ORIGIN}/caf%EF%BF%BD.jpg"]


@pytest.mark.parametrize(
    "charset", ["rot13", "base64", "bogus-charset", "utf-16", "x-user-defined"]
)
def test_bytes_with_unusable_declared_charset_fall_back_to_utf8(charset: str) -> None:
    html = f'<meta charset="{charset}"><img src="/x.jpg">'.encode()
    assert urls(html) == [f"{ORIGIN}/x.jpg"]


def test_bytes_with_byte_order_marks() -> None:
    assert urls(b'\xef\xbb\xbf<img src="/bom.jpg">') == [f"{ORIGIN}/bom.jpg"]
    assert urls('<img src="/u16.jpg">'.encode("utf-16")) == [f"{ORIGIN}/u16.jpg"]


def test_str_with_an_encoding_declaration() -> None:
    html = '<?xml version="1.0" encoding="iso-8859-1"?><img src="/café.jpg">'
    assert urls(html) == [f"{ORIGIN}/caf%C3%A9.jpg"]


# --- Hostile input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    ["", b"", "   \n\t", "<!-- only a comment -->", "<html></html>", "<!DOCTYPE html>", "\x00"],
)
def test_empty_documents_give_an_empty_extraction(html: str | bytes) -> None:
    assert extract_images(html, BASE) == Extraction(images=[], skipped={})


def test_malformed_markup() -> None:
    html = """<img src="/a.jpg" <div <<<>>> </p></p></span>
        <img src='/b.jpg' alt="x><p>unclosed"""
    assert urls(html)[0] == f"{ORIGIN}/a.jpg"


def test_unclosed_tags() -> None:
    assert urls('<div><span><table><tr><td><img src="/u.jpg"><p><b>') == [f"{ORIGIN}/u.jpg"]


def test_unterminated_attribute_value() -> None:
    assert urls('<img src="/ok.jpg"><img src="/never-closed.jpg') == [f"{ORIGIN}/ok.jpg"]


@pytest.mark.timeout(60)
def test_deeply_nested_divs_do_not_hide_images() -> None:
    # libxml2 gives up at 2048 levels; the fallback tokenizer must take over.
    depth = 50_000
    html = (
        '<img src="/first.jpg">'
        + "<div>" * depth
        + '<picture><source srcset="/deep.avif"></picture><div style="background:url(/bg.jpg)">'
        + "</div>" * depth
        + '<style>.x{background:url("/styled.png")}</style><img src="/after.jpg">'
    )
    assert found(html) == [
        (f"{ORIGIN}/first.jpg", "img-src"),
        (f"{ORIGIN}/deep.avif", "picture-source"),
        (f"{ORIGIN}/bg.jpg", "css-style-attr"),
        (f"{ORIGIN}/styled.png", "css-style-block"),
        (f"{ORIGIN}/after.jpg", "img-src"),
    ]


@pytest.mark.timeout(60)
def test_deeply_nested_unclosed_divs() -> None:
    html = '<base href="/b/">' + "<div>" * 50_000 + '<img src="deep.jpg">'
    assert urls(html) == [f"{ORIGIN}/b/deep.jpg"]


@pytest.mark.timeout(60)
def test_five_megabyte_attribute_value() -> None:
    html = '<img src="/' + "a" * 5_000_000 + '.jpg"><img src="/after.jpg">'
    ex = extract_images(html, BASE)
    assert ex == Extraction(
        images=[ImageRef(f"{ORIGIN}/after.jpg", "img-src")], skipped={"too_long_url": 1}
    )


@pytest.mark.timeout(60)
def test_five_megabyte_style_attribute() -> None:
    html = '<div style="' + "(" * 5_000_000 + ' background:url(/end.jpg)"></div>'
    assert urls(html) == [f"{ORIGIN}/end.jpg"]
    html = '<div style="' + "url(" * 1_250_000 + '"></div><img src="/after.jpg">'
    assert urls(html) == [f"{ORIGIN}/after.jpg"]


@pytest.mark.timeout(60)
def test_five_megabyte_srcset() -> None:
    html = '<img srcset="' + "/a.jpg 1x, " * 500_000 + '/b.jpg 2x">'
    assert urls(html) == [f"{ORIGIN}/a.jpg", f"{ORIGIN}/b.jpg"]
    html = '<img srcset="' + "data:image/gif;base64,R0lGOD 1x, " * 150_000 + '">'
    assert extract_images(html, BASE).skipped == {"data_url": 150_000}


@pytest.mark.timeout(60)
def test_many_distinct_references_after_the_cap() -> None:
    srcset = ", ".join(f"/i/{n}.jpg {n}w" for n in range(100_000))
    ex = extract_images(f'<img srcset="{srcset}">', BASE, max_images=10)
    assert [r.url for r in ex.images] == [f"{ORIGIN}/i/{n}.jpg" for n in range(10)]
    assert ex.skipped == {"over_limit": 99_990}


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "html",
    [
        "<" * 1_000_000,
        "<a " * 300_000,
        "<!--" * 300_000,
        '<img alt="' + "<img " * 300_000,
        "<style>" + '""' * 1_000_000 + "</style>",
        "<style>" + "/*" * 1_000_000,
        "</" * 500_000,
        "<![CDATA[" * 100_000,
    ],
)
def test_pathological_markup_returns(html: str) -> None:
    assert extract_images(html, BASE) == Extraction()


def test_nul_bytes() -> None:
    html = '<p>\x00</p><img src="/a\x00b.jpg"><img src="/after.jpg">'
    assert urls(html) == [f"{ORIGIN}/a%EF%BF%BDb.jpg", f"{ORIGIN}/after.jpg"]
    assert urls(html.encode()) == [f"{ORIGIN}/a%EF%BF%BDb.jpg", f"{ORIGIN}/after.jpg"]


def test_lone_surrogates_in_str_input() -> None:
    assert urls('<img src="/\ud800.jpg"><img src="/ok.jpg">') == [
        f"{ORIGIN}/%EF%BF%BD.jpg",
        f"{ORIGIN}/ok.jpg",
    ]


def test_control_characters_and_odd_hosts() -> None:
    html = """<img src="https://ex ample.com/a.jpg"><img src="https://exa<mple.com/b.jpg">
        <img src="http:\x01x"><img src="https://:80/x.jpg"><img src="/fine.jpg">"""
    ex = extract_images(html, BASE)
    assert [r.url for r in ex.images] == [f"{ORIGIN}/fine.jpg"]
    assert ex.skipped == {"invalid_url": 4}


@pytest.mark.timeout(60)
def test_two_megabyte_page_with_five_thousand_images() -> None:
    cards = [
        f'<div class="card"><a href="/post/{n}"><img src="/img/{n}.jpg" alt="photo {n}"></a>'
        f"<p>{'lorem ipsum dolor sit amet ' * 13}</p></div>\n"
        for n in range(5000)
    ]
    html = "<html><body>" + "".join(cards) + "</body></html>"
    assert len(html) > 2_000_000
    ex = extract_images(html, "https://example.com/")
    assert len(ex.images) == 5000
    assert ex.images[0] == ImageRef(f"{ORIGIN}/img/0.jpg", "img-src")
    assert ex.images[-1] == ImageRef(f"{ORIGIN}/img/4999.jpg", "img-src")
    assert ex.skipped == {}


# --- The fallback tokenizer agrees with lxml ---------------------------------------------

RICH_PAGE = """<!DOCTYPE html>
<html><head>
  <base href="/site/">
  <meta property="og:image" content="og.jpg">
  <meta name="twitter:image" content="https://t.example.net/tw.png">
  <link rel="image_src" href="share.jpg">
  <link rel="preload" as="image" href="pre.webp" imagesrcset="pre-1.webp 1x, pre-2.webp 2x">
  <style>.h{background:url("h.jpg")} .f{src:url(f.woff2)} .s{b:image-set("s1.png" 1x)}</style>
  <script>var x = "<img src='no.jpg'>";</script>
</head>
<BODY>
  <!-- <img src="commented.jpg"> -->
  <img SRC = " a.jpg " srcset="https://res.cloudinary.com/x/w_100,h_50/c.jpg 1x, d.jpg 2x">
  <picture><source srcset="p1.avif 1x, p2.avif 2x"><img src="p.jpg"></picture>
  <video poster="poster.jpg"><source data-src="clip.mp4"></video>
  <div data-src="lazy.jpg" style="background: url('st.jpg')"></div>
  <iframe data-src="/embed/1"></iframe>
  <img data-src="/noext/abc" src="data:image/gif;base64,R0lGOD">
  <a href="big.JPG?x=1#frag">x</a><a href="page.html">p</a>
  <input type=image src="btn.gif">
  <svg><image xlink:href="svg-img.png"/></svg>
  <img src="javascript:alert(1)"><img src="http://[::1"><img src="vector.svg">
  <img src="caf&eacute;.jpg">
</BODY></html>"""

RICH_EXPECTED = [
    (f"{ORIGIN}/site/og.jpg", "og-image"),
    ("https://t.example.net/tw.png", "twitter-image"),
    (f"{ORIGIN}/site/share.jpg", "link-image-src"),
    (f"{ORIGIN}/site/pre.webp", "preload"),
    (f"{ORIGIN}/site/pre-1.webp", "preload"),
    (f"{ORIGIN}/site/pre-2.webp", "preload"),
    (f"{ORIGIN}/site/h.jpg", "css-style-block"),
    (f"{ORIGIN}/site/s1.png", "css-style-block"),
    (f"{ORIGIN}/site/a.jpg", "img-src"),
    ("https://res.cloudinary.com/x/w_100,h_50/c.jpg", "srcset"),
    (f"{ORIGIN}/site/d.jpg", "srcset"),
    (f"{ORIGIN}/site/p1.avif", "picture-source"),
    (f"{ORIGIN}/site/p2.avif", "picture-source"),
    (f"{ORIGIN}/site/p.jpg", "img-src"),
    (f"{ORIGIN}/site/poster.jpg", "video-poster"),
    (f"{ORIGIN}/site/lazy.jpg", "lazy"),
    (f"{ORIGIN}/site/st.jpg", "css-style-attr"),
    (f"{ORIGIN}/noext/abc", "lazy"),
    (f"{ORIGIN}/site/big.JPG?x=1", "link-href"),
    (f"{ORIGIN}/site/btn.gif", "input-image"),
    (f"{ORIGIN}/site/svg-img.png", "svg-image"),
    (f"{ORIGIN}/site/caf%C3%A9.jpg", "img-src"),
]
RICH_SKIPPED = {"data_url": 1, "unsupported_scheme": 1, "invalid_url": 1, "svg": 1}


def test_rich_page() -> None:
    ex = extract_images(RICH_PAGE, BASE)
    assert [(r.url, r.source) for r in ex.images] == RICH_EXPECTED
    assert ex.skipped == RICH_SKIPPED


def test_fallback_tokenizer_gives_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract, "_parse_with_lxml", lambda data: None)
    ex = extract_images(RICH_PAGE, BASE)
    assert [(r.url, r.source) for r in ex.images] == RICH_EXPECTED
    assert ex.skipped == RICH_SKIPPED


@pytest.mark.parametrize(
    "ref",
    [
        "a.jpg",
        "/a.jpg",
        "//cdn.example.net/a.jpg",
        "https://cdn.example.net:8443/a.jpg?x=1&y=2",
        "../a.jpg",
        "./b/../a.jpg",
        "a.jpg?q=(1)&r=[2]",
        "A B.jpg",
        "HTTPS://CDN.EXAMPLE.NET/X.JPG",
        "https://cdn.example.net",
        "?page=2",
        "%7Euser/a.jpg",
    ],
)
def test_urls_match_urljoin_and_w3lib_normalization(ref: str) -> None:
    # The extractor has a fast path for common URL shapes; it must agree with
    # the general urljoin + safe_url_string route.
    assert urls(f'<img src="{ref}">') == [safe_url_string(urljoin(BASE, ref))]
