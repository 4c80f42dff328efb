#!/usr/bin/env python3
"""Probe wasmtime's WASI preview1 path semantics (reference for elastic-ramfs).

usage: probe.py CASES.py OUT.txt   (needs the PyPI `wasmtime` package; used with 50.0.1)

Builds a small tree in a temporary preopen, runs the calls listed in CASES.py from one WAT
module (opens get all rights, i.e. write intent, unless a case passes READ_ONLY), and writes one line per call:
`kind dirflags oflags hex(arg1) hex(arg2) errno` (for opens, arg2 is `w`/`r`: write intent). tests/conformance.rs replays the lines on a
Ramfs holding the same tree and expects the same errno.
"""
import os, sys, tempfile, shutil, wasmtime
FOLLOW=1; CREAT=1; DIRECTORY=2; EXCL=4; TRUNC=8
calls = []  # (label, kind, args)
def o(label, path, dirflags=0, oflags=0, rights=0x1fffffff): calls.append((label, 'open', (dirflags, path, oflags, rights)))
READ_ONLY = 0x2 | 0x4000  # fd_read | fd_readdir: no write intent
def unlink(p): calls.append((f'unlink {p}', 'unlink', (p,)))
def rmdir(p): calls.append((f'rmdir {p}', 'rmdir', (p,)))
def mkdir(p): calls.append((f'mkdir {p}', 'mkdir', (p,)))
def rename(a,b): calls.append((f'rename {a} {b}', 'rename', (a,b)))
def link(a,b,fl=0): calls.append((f'link{fl} {a} {b}', 'link', (fl,a,b)))
def symlink(t,p): calls.append((f'symlink {t!r} {p}', 'symlink', (t,p)))
def readlink(p): calls.append((f'readlink {p}', 'readlink', (p,)))
def stat(p, fl=0): calls.append((f'stat{fl} {p}', 'stat', (fl,p)))
exec(open(sys.argv[1]).read())
data = {}
off = 1024
def s(x):
    global off
    b = x.encode()
    if x not in data:
        data[x] = (off, len(b)); off += len(b) + 1
    return data[x]
body = []
for i,(label,kind,args) in enumerate(calls):
    if kind=='open':
        fl,p,of,rt = args; a,l = s(p)
        c=f'(call $path_open (i32.const 3) (i32.const {fl}) (i32.const {a}) (i32.const {l}) (i32.const {of}) (i64.const {rt}) (i64.const {rt}) (i32.const 0) (i32.const 512))'
    elif kind in ('unlink','rmdir','mkdir'):
        a,l=s(args[0]); fn={'unlink':'$path_unlink_file','rmdir':'$path_remove_directory','mkdir':'$path_create_directory'}[kind]
        c=f'(call {fn} (i32.const 3) (i32.const {a}) (i32.const {l}))'
    elif kind=='rename':
        a,l=s(args[0]); b,m=s(args[1])
        c=f'(call $path_rename (i32.const 3) (i32.const {a}) (i32.const {l}) (i32.const 3) (i32.const {b}) (i32.const {m}))'
    elif kind=='link':
        fl=args[0]; a,l=s(args[1]); b,m=s(args[2])
        c=f'(call $path_link (i32.const 3) (i32.const {fl}) (i32.const {a}) (i32.const {l}) (i32.const 3) (i32.const {b}) (i32.const {m}))'
    elif kind=='symlink':
        a,l=s(args[0]); b,m=s(args[1])
        c=f'(call $path_symlink (i32.const {a}) (i32.const {l}) (i32.const 3) (i32.const {b}) (i32.const {m}))'
    elif kind=='readlink':
        a,l=s(args[0])
        c=f'(call $path_readlink (i32.const 3) (i32.const {a}) (i32.const {l}) (i32.const 600) (i32.const 100) (i32.const 520))'
    elif kind=='stat':
        fl=args[0]; a,l=s(args[1])
        c=f'(call $path_filestat_get (i32.const 3) (i32.const {fl}) (i32.const {a}) (i32.const {l}) (i32.const 704))'
    body.append(f'(i32.store8 (i32.const {32768+i}) {c})')
def esc(k): return "".join("\\%02x"%ch for ch in k.encode())
datas = '\n'.join('(data (i32.const %d) "%s")' % (a, esc(k)) for k,(a,l) in data.items())
imports = '''
(import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
(import "wasi_snapshot_preview1" "path_unlink_file" (func $path_unlink_file (param i32 i32 i32) (result i32)))
(import "wasi_snapshot_preview1" "path_remove_directory" (func $path_remove_directory (param i32 i32 i32) (result i32)))
(import "wasi_snapshot_preview1" "path_create_directory" (func $path_create_directory (param i32 i32 i32) (result i32)))
(import "wasi_snapshot_preview1" "path_rename" (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
(import "wasi_snapshot_preview1" "path_link" (func $path_link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
(import "wasi_snapshot_preview1" "path_symlink" (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
(import "wasi_snapshot_preview1" "path_readlink" (func $path_readlink (param i32 i32 i32 i32 i32 i32) (result i32)))
(import "wasi_snapshot_preview1" "path_filestat_get" (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
'''
n=len(calls)
BODY=chr(10).join(body)
wat = f'''(module {imports}
(memory (export "memory") 2)
{datas}
(func (export "_start")
{BODY}
(i32.store (i32.const 256) (i32.const 32768)) (i32.store (i32.const 260) (i32.const {n}))
(drop (call $fd_write (i32.const 1) (i32.const 256) (i32.const 1) (i32.const 300))))
)'''
root = tempfile.mkdtemp()
pre = os.path.join(root, 'pre'); os.mkdir(pre)
os.mkdir(os.path.join(root,'outside'))
def mk(p, content=None):
    full=os.path.join(pre,p)
    if content is None: os.makedirs(full, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(full), exist_ok=True); open(full,'w').write(content)
for p in ['d/sub','ed','ne']: mk(p)
mk('f','hello'); mk('d/g','x'); mk('ne/x','y')
for t,l in [('f','lf'),('d','ld'),('../outside','esc'),('/etc','abs'),('loop2','loop1'),('loop1','loop2'),('nowhere','dang'),('d/sub/../../..','esc2'),('f/','lfs')]:
    os.symlink(t, os.path.join(pre,l))
engine = wasmtime.Engine(); linker = wasmtime.Linker(engine); linker.define_wasi()
module = wasmtime.Module(engine, wat)
store = wasmtime.Store(engine); cfg = wasmtime.WasiConfig()
out = os.path.join(root,'out'); cfg.stdout_file = out; cfg.preopen_dir(pre, '/pre')
store.set_wasi(cfg)
inst = linker.instantiate(store, module); inst.exports(store)['_start'](store)
res = open(out,'rb').read()
names = {0:'ok',2:'acces',8:'badf',10:'busy',20:'exist',28:'inval',31:'isdir',32:'loop',37:'nametoolong',44:'noent',54:'notdir',55:'notempty',58:'notsup',63:'perm',76:'notcapable'}
lines = []
for (label,kind,args),r in zip(calls,res):
    print(f'{label!s:45} {r:3} {names.get(r,"?")}')
    if kind == 'open':
        fl, a, of, rt = args; b = 'w' if rt & 0x40 else 'r'
    elif kind in ('link', 'stat'):
        fl, a, b = args[0], args[1], (args[2] if len(args) > 2 else ''); of = 0
    else:
        fl = of = 0; a = args[0]; b = args[1] if len(args) > 1 else ''
    b = b if kind == 'open' else (b.encode().hex() or "-")
    lines.append(f'{kind} {fl} {of} {a.encode().hex() or "-"} {b} {r}')
open(sys.argv[2], 'w').write('\n'.join(lines) + '\n')
shutil.rmtree(root)
