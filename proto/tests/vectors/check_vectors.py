# Independent implementation of the zgvault sealed-file format v2, written from proto/README.md
# only (not from the Rust code). Checks every vector in seal.json; needs `pip install cryptography`.
# Not run by cargo: `python3 proto/tests/vectors/check_vectors.py proto/tests/vectors/seal.json`.
import json, hashlib, hmac, struct, sys
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305, AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand
from cryptography.hazmat.primitives import hashes

def rotl(v,c): return ((v<<c)&0xffffffff)|(v>>(32-c))
def qr(s,a,b,c,d):
    s[a]=(s[a]+s[b])&0xffffffff; s[d]=rotl(s[d]^s[a],16)
    s[c]=(s[c]+s[d])&0xffffffff; s[b]=rotl(s[b]^s[c],12)
    s[a]=(s[a]+s[b])&0xffffffff; s[d]=rotl(s[d]^s[a],8)
    s[c]=(s[c]+s[d])&0xffffffff; s[b]=rotl(s[b]^s[c],7)
def hchacha20(key, n16):
    s=[0x61707865,0x3320646e,0x79622d32,0x6b206574]+list(struct.unpack('<8I',key))+list(struct.unpack('<4I',n16))
    for _ in range(10):
        qr(s,0,4,8,12);qr(s,1,5,9,13);qr(s,2,6,10,14);qr(s,3,7,11,15)
        qr(s,0,5,10,15);qr(s,1,6,11,12);qr(s,2,7,8,13);qr(s,3,4,9,14)
    return struct.pack('<8I',*(s[0:4]+s[12:16]))
def aead_enc(suite,key,nonce,pt,aad):
    if suite==1:
        sub=hchacha20(key,nonce[:16]); return ChaCha20Poly1305(sub).encrypt(b'\0'*4+nonce[16:],pt,aad)
    return AESGCM(key).encrypt(nonce,pt,aad)
def hkdf(ikm,salt,info,n):
    return HKDF(algorithm=hashes.SHA256(),length=n,salt=salt,info=info).derive(ikm)

def seal(K,suite,salt,name,mt,pt):
    nlen=24 if suite==1 else 12
    s=bytes([suite])
    pk=hkdf(K,salt,b'zgvault/v2/payload'+s,32); mk=hkdf(K,salt,b'zgvault/v2/metadata'+s,32)
    mac=hkdf(K,salt,b'zgvault/v2/header-mac'+s,32); pre=hkdf(K,salt,b'zgvault/v2/nonce-prefix'+s,nlen-9)
    kc=HKDF(algorithm=hashes.SHA256(),length=16,salt=None,info=b'zgvault/v1/key-check').derive(K)
    h=b'ZGVAULT\0'+bytes([2,suite])+struct.pack('>I',65536)+salt
    meta=struct.pack('>Q',len(pt))+bytes([len(name)])+name+bytes([len(mt)])+mt
    meta+=b'\0'*(520-len(meta))
    h+=aead_enc(suite,mk,b'\0'*nlen,meta,h)
    h+=hmac.new(mac,h,hashlib.sha256).digest()+kc
    assert len(h)==630
    H=hashlib.sha256(h).digest()
    chunks=[pt[i:i+65536] for i in range(0,len(pt),65536)] or [b'']
    out=bytearray(h)
    for i,c in enumerate(chunks):
        flag=1 if i==len(chunks)-1 else 0
        out+=aead_enc(suite,pk,pre+struct.pack('>Q',i)+bytes([flag]),c,H)
    return bytes(out)

d=json.load(open(sys.argv[1]))
K=bytes.fromhex(d['key_hex']); salt=bytes.fromhex(d['salt_hex'])
for v in d['vectors']:
    suite={'xchacha20poly1305':1,'aes256gcm':2}[v['suite']]
    pt=bytes(i%251 for i in range(v['plaintext_len']))
    s=seal(K,suite,salt,v['file_name'].encode(),v['media_type'].encode(),pt)
    ok = len(s)==v['sealed_len'] and s[:630].hex()==v['header_hex'] and hashlib.sha256(s).hexdigest()==v['sealed_sha256']
    if v.get('sealed_hex'): ok = ok and s.hex()==v['sealed_hex']
    print(v['name'], 'OK' if ok else 'MISMATCH')
