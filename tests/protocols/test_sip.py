"""SIP messages, digest and SDP (RFC 3261, RFC 2617 / 7616, RFC 4566 / 3264)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tocsin.protocols import sip

INVITE_200 = (
    b"SIP/2.0 200 OK\r\n"
    b"v: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKabc;rport=5062\r\n"
    b'f: "BE-Alert" <sip:tocsin@127.0.0.1>;tag=ours\r\n'
    b"t: <sip:+32470123456@127.0.0.1>;tag=theirs\r\n"
    b"i: abc@tocsin\r\n"
    b"CSeq: 2 INVITE\r\n"
    b"Record-Route: <sip:proxy1.example;lr>\r\n"
    b"Record-Route: <sip:proxy2.example;lr>\r\n"
    b"Contact: <sip:phone@10.0.0.5:5080;transport=udp>\r\n"
    b"Subject: a folded\r\n  header\r\n"
    b"Content-Type: application/sdp\r\n"
    b"l: 4\r\n\r\nv=0\r\nextra"
)


def test_parse_expands_compact_names_joins_folded_lines_and_cuts_the_body():
    message = sip.parse(INVITE_200)
    assert message is not None and message.is_response and message.status == 200 and message.reason == "OK"
    assert message.method == "INVITE" and message.cseq == 2
    assert message.get("call-id") == "abc@tocsin" and message.get("Subject") == "a folded header"
    assert sip.tag_of(message.get("to") or "") == "theirs"
    assert sip.uri_of(message.get("contact") or "") == "sip:phone@10.0.0.5:5080;transport=udp"
    assert message.all("record-route") == ["<sip:proxy1.example;lr>", "<sip:proxy2.example;lr>"]
    assert message.body == b"v=0\r"


def test_parse_refuses_what_is_not_sip():
    assert sip.parse(b"\r\n\r\n") is None  # a keep-alive
    assert sip.parse(b"GET / HTTP/1.1\r\n\r\n") is None
    assert sip.parse(b"SIP/2.0 200 OK\r\nContent-Length: 99\r\n\r\nshort") is None


@given(st.binary(max_size=600))
def test_parse_never_raises(data):
    sip.parse(data)


@given(
    method=st.sampled_from(["INVITE", "BYE", "INFO", "OPTIONS"]),
    values=st.lists(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30),
                    min_size=1, max_size=5),
    body=st.binary(max_size=100),
)  # fmt: skip
def test_build_then_parse_round_trip(method, values, body):
    headers = [(f"X-H{i}", v) for i, v in enumerate(values)]
    message = sip.parse(sip.build(f"{method} sip:a@b SIP/2.0", headers, body))
    assert message is not None and message.method == method and message.body == body
    assert [message.get(f"x-h{i}") for i in range(len(values))] == values


def test_response_copies_the_request_and_tags_the_to():
    request = sip.parse(
        b"BYE sip:tocsin@127.0.0.1:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5080;branch=z9hG4bKx\r\n"
        b"From: <sip:phone@10.0.0.5>;tag=a\r\nTo: <sip:tocsin@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 9 BYE\r\n\r\n"
    )
    assert request is not None
    answer = sip.parse(sip.response(request, 200, to_tag="zz"))
    assert answer is not None and answer.status == 200 and answer.get("cseq") == "9 BYE"
    assert answer.get("via") == "SIP/2.0/UDP 10.0.0.5:5080;branch=z9hG4bKx"
    assert sip.tag_of(answer.get("to") or "") == "zz"


def test_digest_reproduces_the_rfc_2617_example():
    """RFC 2617 §3.5: Mufasa / Circle Of Life, qop=auth, nc=00000001, cnonce 0a4f113b."""
    challenge = ('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                 'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"')  # fmt: skip
    value = sip.authorization(challenge, method="GET", uri="/dir/index.html", username="Mufasa",
                              password="Circle Of Life", cnonce="0a4f113b")  # fmt: skip
    assert 'response="6629fae49393a05397450978507c4ef1"' in value
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in value and "nc=00000001" in value


def test_digest_sha_256_and_no_qop():
    value = sip.authorization('Digest realm="r", nonce="n", algorithm=SHA-256', method="INVITE", uri="sip:x@y",
                              username="u", password="p")  # fmt: skip
    assert "algorithm=SHA-256" in value and "qop" not in value
    response = value.split('response="')[1].split('"')[0]
    assert len(response) == 64


def test_digest_refuses_what_it_cannot_answer():
    import pytest

    for challenge in ('Basic realm="r"', 'Digest realm="r", nonce="n", algorithm=SHA-512-256',
                      'Digest realm="r", nonce="n", qop="auth-int"', 'Digest realm="r"'):  # fmt: skip
        with pytest.raises(sip.DigestError):
            sip.authorization(challenge, method="INVITE", uri="sip:x@y", username="u", password="p")


def test_sdp_offer_and_answer():
    offer = sip.sdp_offer("192.0.2.1", 40000, session_id=7).decode()
    assert "m=audio 40000 RTP/AVP 8 0 101" in offer and "a=rtpmap:101 telephone-event/8000" in offer
    answer = sip.sdp_answer(
        b"v=0\r\no=- 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n"
        b"m=video 0 RTP/AVP 96\r\nm=audio 30000 RTP/AVP 0 96\r\nc=IN IP4 198.51.100.9\r\n"
        b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:96 telephone-event/8000\r\n"
    )
    assert answer == sip.Answer("198.51.100.9", 30000, 0, 96)
    assert sip.sdp_answer(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n") is None  # refused stream
    assert sip.sdp_answer(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP 18\r\n") is None  # G.729 only


@given(st.binary(max_size=300))
def test_sdp_answer_never_raises(data):
    sip.sdp_answer(data)


def test_dtmf_in_sip_info_bodies():
    assert sip.dtmf_relay("application/dtmf-relay", b"Signal=1\r\nDuration=160\r\n") == "1"
    assert sip.dtmf_relay("application/dtmf-relay; charset=x", b"signal= #\r\n") == "#"
    assert sip.dtmf_relay("application/dtmf", b"1") == "1"
    assert sip.dtmf_relay("application/dtmf", b"11") == "#"
    assert sip.dtmf_relay("text/plain", b"Signal=1") is None


def test_host_port_of_uris():
    assert sip.host_port("sip:+32470123456@trunk.example:5070;user=phone") == ("trunk.example", 5070)
    assert sip.host_port("sip:trunk.example") == ("trunk.example", 5060)
    assert sip.host_port("sip:u@[2001:db8::1]:5080") == ("2001:db8::1", 5080)
