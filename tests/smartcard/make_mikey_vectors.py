#!/usr/bin/env python3
"""Independent known-answer vectors for tests/smartcard/mikey_test.cc.

Written from the RFC text alone (RFC 3830 §4.1.2 PRF, §4.1.4 message-key labels, §4.2.3 AES-CM
IV, §6 payload layouts; RFC 6043 §6.1 PRF-HMAC-SHA-256) and shared/spec/smartcard.md's message
layouts, with Python's hmac and the `cryptography` package's AES-CTR: nothing is shared with the
C++ code. Run once; its output is pasted into the test.
"""
import hashlib
import hmac

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def p(digest, s, label, m):
    out, a = b"", label
    for _ in range(m):
        a = hmac.new(s, a, digest).digest()
        out += hmac.new(s, a + label, digest).digest()
    return out


def prf(digest, inkey, label, outlen):
    block = hashlib.new(digest).digest_size
    m = -(-outlen // block)
    pieces = [inkey[i:i + 32] for i in range(0, len(inkey), 32)] or [b""]
    acc = bytes(m * block)
    for s in pieces:
        acc = bytes(x ^ y for x, y in zip(acc, p(digest, s, label, m)))
    return acc[:outlen]


def keys(digest, env, csb, rand):
    def lab(c):
        return c.to_bytes(4, "big") + b"\xff" + csb.to_bytes(4, "big") + rand
    return (prf(digest, env, lab(0x150533E1), 16), prf(digest, env, lab(0x29B88916), 14),
            prf(digest, env, lab(0x2D22AC75), 20))


def aes_cm(key, salt, csb, t, data):
    x = bytes(2) + csb.to_bytes(4, "big") + t.to_bytes(8, "big")
    iv = bytes(a ^ b for a, b in zip(salt, x)) + bytes(2)
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def mtk_message(msk, domain, msk_id, mtk_id, counter, rand, mtk, salt, ext):
    hdr = bytes([1, 0, 21, 0]) + msk_id.to_bytes(4, "big") + bytes([0, 1])
    keyid = domain + msk_id.to_bytes(4, "big") + mtk_id.to_bytes(2, "big")
    ext6 = bytes([5, 6]) + (3 + len(keyid)).to_bytes(2, "big") + bytes([2]) + \
        len(keyid).to_bytes(2, "big") + keyid
    t = bytes([11, 2]) + counter.to_bytes(4, "big")
    r = bytes([21, len(rand)]) + rand
    ext5 = bytes([1, 5]) + len(ext).to_bytes(2, "big") + ext
    kd = bytes([0, (3 << 4) | 1]) + len(mtk).to_bytes(2, "big") + mtk + \
        len(salt).to_bytes(2, "big") + salt + bytes([2]) + mtk_id.to_bytes(2, "big")
    ek, es, ea = keys("sha1", msk, msk_id, rand)
    enc = aes_cm(ek, es, msk_id, counter, kd)
    body = hdr + ext6 + t + r + ext5 + bytes([0, 1]) + len(enc).to_bytes(2, "big") + enc + b"\x01"
    return body + hmac.new(ea, body, "sha1").digest()


h = bytes.hex
label = bytes.fromhex("150533e1ff11223344") + bytes(range(16))
k16 = bytes(range(0x40, 0x50))
k40 = bytes(range(0x80, 0xa8))
print("prf sha1 k16 out16", h(prf("sha1", k16, label, 16)))
print("prf sha1 k16 out50", h(prf("sha1", k16, label, 50)))
print("prf sha1 k40 out20", h(prf("sha1", k40, label, 20)))
print("prf sha256 k40 out40", h(prf("sha256", k40, label, 40)))
ek, es, ea = keys("sha1", k16, 0x11223344, bytes(range(16)))
print("keys enc", h(ek), "salt", h(es), "auth", h(ea))
print("aes-cm", h(aes_cm(ek, es, 0x11223344, 7, bytes(range(40)))))
msg = mtk_message(bytes(range(0x60, 0x70)), bytes.fromhex("0a0b0c"), 0x00010002, 0x0005, 9,
                  bytes(range(0xc0, 0xd0)), bytes(range(0x20, 0x30)), bytes(range(0x30, 0x3e)),
                  bytes([2, 1, 2, 1, 1, 1, 1, 18]))
print("mtk message", h(msg))
