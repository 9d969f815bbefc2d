#!/usr/bin/env python3
"""Generates src/protocol/methods.rs (and its proptest strategies) from the RabbitMQ AMQP 0-9-1 spec JSON.

The output is checked in, so the build never needs the spec. Re-run after changing this script:
    python3 scripts/gen-methods.py [path/to/amqp-rabbitmq-0.9.1.json]
(default: ../shared/spec/ next to the checkout). The written files are passed through rustfmt.

Besides the codec it generates what the spec knows about each method, so the engine never keeps it
by hand: named ids (`MethodId::CHANNEL_OPEN_OK`, `Method::id()`), `is_synchronous()`, `replies()`
(the method ids that complete a synchronous method), `nowait()` and the direction
(`MethodId::sent_by_client()` / `sent_by_server()`).

The codec is direction-aware. A client decodes only what servers send and encodes only what
clients send, so that is all the default build contains: `Method::decode_from_server` and the
encoders of client methods. The cargo feature `server-codec` adds the other half (decoders of
client methods: `Method::decode_from_client`, `Method::decode` for either; encoders of server
methods), for the test brokers, the fuzz round trips and the codec benchmarks.
"""
import json, sys, os, shutil, subprocess

spec = json.load(open(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '../../shared/spec/amqp-rabbitmq-0.9.1.json')))
domains = dict(spec['domains'])
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
SERVER_CODEC = '#[cfg(feature = "server-codec")]'
NOT_SERVER_CODEC = '#[cfg(not(feature = "server-codec"))]'

def camel(s):
    return ''.join(p.capitalize() for p in s.replace('-', '_').split('_'))

def snake(s):
    s = s.replace('-', '_')
    return {'type': 'kind'}.get(s, s)

RUST = {'octet': 'u8', 'short': 'u16', 'long': 'u32', 'longlong': 'u64', 'bit': 'bool',
        'shortstr': 'ShortStr', 'longstr': 'Bytes', 'table': 'FieldTable', 'timestamp': 'u64'}
STRAT = {'octet': 'any::<u8>()', 'short': 'any::<u16>()', 'long': 'any::<u32>()', 'longlong': 'any::<u64>()',
         'bit': 'any::<bool>()', 'shortstr': 'short_str().prop_map(ShortStr::from)', 'longstr': 'long_str()',
         'table': 'field_table()', 'timestamp': 'any::<u64>()'}

def argtype(a):
    return a.get('type') or domains[a['domain']]

def const(cls, mname):
    return (cls + '_' + mname).replace('-', '_').upper()

# Replies the spec states in prose only ("<response name=...>" in the XML, absent from the JSON): a synchronous
# method is answered by `<name>-ok` of its class; basic.get also by get-empty.
EXTRA_REPLIES = {('basic', 'get'): ['get-empty']}

# Who sends each method: the `<chassis name="client"|"server">` elements of the 0-9-1 XML (a chassis
# *implements*, i.e. receives, the method), which the JSON leaves out. 'C' = clients send it (servers
# receive it), 'S' = servers send it, 'CS' = both. RabbitMQ's extensions as RabbitMQ uses them: the
# broker sends connection.blocked/unblocked, basic.cancel (consumer cancel notification, which the
# client answers with cancel-ok) and basic.ack/nack (publisher confirms); clients send
# connection.update-secret and basic.nack.
SENDERS = {
    'connection': {'start': 'S', 'start-ok': 'C', 'secure': 'S', 'secure-ok': 'C', 'tune': 'S',
                   'tune-ok': 'C', 'open': 'C', 'open-ok': 'S', 'close': 'CS', 'close-ok': 'CS',
                   'blocked': 'S', 'unblocked': 'S', 'update-secret': 'C', 'update-secret-ok': 'S'},
    'channel': {'open': 'C', 'open-ok': 'S', 'flow': 'CS', 'flow-ok': 'CS', 'close': 'CS', 'close-ok': 'CS'},
    'access': {'request': 'C', 'request-ok': 'S'},
    'exchange': {'declare': 'C', 'declare-ok': 'S', 'delete': 'C', 'delete-ok': 'S', 'bind': 'C',
                 'bind-ok': 'S', 'unbind': 'C', 'unbind-ok': 'S'},
    'queue': {'declare': 'C', 'declare-ok': 'S', 'bind': 'C', 'bind-ok': 'S', 'purge': 'C', 'purge-ok': 'S',
              'delete': 'C', 'delete-ok': 'S', 'unbind': 'C', 'unbind-ok': 'S'},
    'basic': {'qos': 'C', 'qos-ok': 'S', 'consume': 'C', 'consume-ok': 'S', 'cancel': 'CS', 'cancel-ok': 'CS',
              'publish': 'C', 'return': 'S', 'deliver': 'S', 'get': 'C', 'get-ok': 'S', 'get-empty': 'S',
              'ack': 'CS', 'reject': 'C', 'recover-async': 'C', 'recover': 'C', 'recover-ok': 'S', 'nack': 'CS'},
    'tx': {'select': 'C', 'select-ok': 'S', 'commit': 'C', 'commit-ok': 'S', 'rollback': 'C', 'rollback-ok': 'S'},
    'confirm': {'select': 'C', 'select-ok': 'S'},
}

methods = []
for c in spec['classes']:
    names = {m['name'] for m in c['methods']}
    for m in c['methods']:
        name = camel(c['name']) + camel(m['name'])
        args = [(snake(a['name']), argtype(a)) for a in m['arguments']]
        sync = bool(m.get('synchronous'))
        replies = []
        if sync:
            replies = [m['name'] + '-ok'] + EXTRA_REPLIES.get((c['name'], m['name']), [])
            for r in replies:
                assert r in names, f"{c['name']}.{m['name']}: no reply method {r}"
        senders = SENDERS[c['name']][m['name']]
        methods.append(dict(cls=c['name'], cid=c['id'], mname=m['name'], mid=m['id'], name=name, args=args,
                            content=bool(m.get('content')), sync=sync, const=const(c['name'], m['name']),
                            replies=[const(c['name'], r) for r in replies],
                            nowait=any(n == 'nowait' for n, _ in args),
                            client='C' in senders, server='S' in senders,
                            fn='decode_' + const(c['name'], m['name']).lower()))
for cls, ms in SENDERS.items():
    for mname in ms:
        assert any(m['cls'] == cls and m['mname'] == mname for m in methods), f'{cls}.{mname}: not in the spec'
assert len(methods) == sum(len(ms) for ms in SENDERS.values()), 'a method without a direction'

o = []
w = o.append
w('// @generated by scripts/gen-methods.py from the RabbitMQ AMQP 0-9-1 spec. Do not edit by hand.')
w('//! Every method of AMQP 0-9-1 with RabbitMQ extensions: one struct per method with arguments, one enum over all.')
w('//!')
w('//! The codec is direction-aware: a client decodes what servers send ([`Method::decode_from_server`])')
w('//! and encodes what clients send, and that is all the default build holds. The cargo feature')
w('//! `server-codec` adds the other half (decoders of client methods, encoders of server methods) for')
w('//! test brokers, fuzzing and benchmarks; [`MethodId::sent_by_client`] and')
w('//! [`MethodId::sent_by_server`] say which is which.')
w('#![allow(clippy::all)]')
w('')
w('use super::codec::{put_u16, put_u32, put_u64, put_u8, DecodeError, EncodeError, Puts, Reader};')
w('use super::shortstr::ShortStr;')
w('use super::table::FieldTable;')
w('use bytes::Bytes;')
w('')
w('/// A method\'s (class id, method id) pair, with a named constant for every method in the spec.')
w('#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]')
w('pub struct MethodId {')
w('    pub class: u16,')
w('    pub method: u16,')
w('}')
w('')
w('impl MethodId {')
for m in methods:
    w(f"    /// `{m['cls']}.{m['mname']}`")
    w(f"    pub const {m['const']}: MethodId = MethodId {{ class: {m['cid']}, method: {m['mid']} }};")
w('')
w('    /// The spec name (`class.method`), `None` for ids the spec does not define.')
w('    pub fn name(self) -> Option<&\'static str> {')
w('        self.info().map(|i| i.name)')
w('    }')
w('')
for who, key, bit in (('clients', 'client', 'CLIENT'), ('servers', 'server', 'SERVER')):
    w(f'    /// Whether {who} send this method (false for ids the spec does not define).')
    w(f'    pub fn sent_by_{key}(self) -> bool {{')
    w(f'        self.info().is_some_and(|i| i.senders & {bit} != 0)')
    w('    }')
    w('')
w('    /// The spec\'s entry for this id: one table, searched (a `match` over 66 ids is more code')
w('    /// than the table, and these are not on a hot path).')
w('    fn info(self) -> Option<&\'static Info> {')
w('        INFO.iter().find(|i| i.class == self.class && i.method == self.method)')
w('    }')
w('}')
w('')
w('/// What [`MethodId`] looks up: ids, name, who sends the method.')
w('struct Info {')
w('    class: u16,')
w('    method: u16,')
w('    senders: u8,')
w('    name: &\'static str,')
w('}')
w('')
w('const CLIENT: u8 = 1;')
w('const SERVER: u8 = 2;')
w('')
w(f'static INFO: [Info; {len(methods)}] = [')
for m in methods:
    senders = ' | '.join(x for x, on in (('CLIENT', m['client']), ('SERVER', m['server'])) if on)
    w(f"    Info {{ class: {m['cid']}, method: {m['mid']}, senders: {senders}, name: \"{m['cls']}.{m['mname']}\" }},")
w('];')
w('')
w('impl std::fmt::Display for MethodId {')
w('    fn fmt(&self, f: &mut std::fmt::Formatter<\'_>) -> std::fmt::Result {')
w('        write!(f, "{}.{}", self.class, self.method)')
w('    }')
w('}')
w('')
for m in methods:
    if not m['args']:
        continue
    w(f"/// `{m['cls']}.{m['mname']}` ({m['cid']}, {m['mid']}).")
    w('#[derive(Debug, Clone, PartialEq, Default)]')
    w(f"pub struct {m['name']} {{")
    for n, t in m['args']:
        w(f'    pub {n}: {RUST[t]},')
    w('}')
    w('')

w('/// Any AMQP method. Argument-less methods are unit variants.')
w('#[derive(Debug, Clone, PartialEq)]')
w('pub enum Method {')
for m in methods:
    w(f"    {m['name']}({m['name']}),"if m['args'] else f"    {m['name']},")
w('}')
w('')
w('impl Method {')
def match_fn(fname, ret, val):
    w(f'    pub fn {fname}(&self) -> {ret} {{')
    w('        match self {')
    for m in methods:
        pat = f"Method::{m['name']}(_)" if m['args'] else f"Method::{m['name']}"
        w(f'            {pat} => {val(m)},')
    w('        }')
    w('    }')
    w('')
w('    pub fn class_id(&self) -> u16 {')
w('        self.id().class')
w('    }')
w('')
w('    pub fn method_id(&self) -> u16 {')
w('        self.id().method')
w('    }')
w('')
match_fn('name', '&\'static str', lambda m: f'"{m["cls"]}.{m["mname"]}"')
match_fn('id', 'MethodId', lambda m: f"MethodId::{m['const']}")
w('    /// Whether the spec marks the method synchronous (the peer answers it with one of [`Method::replies`]).')
match_fn('is_synchronous', 'bool', lambda m: 'true' if m['sync'] else 'false')
w('    /// The methods that answer this one, empty for asynchronous methods.')
match_fn('replies', '&\'static [MethodId]', lambda m: '&[' + ', '.join('MethodId::' + r for r in m['replies']) + ']')
w('    /// The `nowait` flag for methods that have one, `None` for the others.')
w('    pub fn nowait(&self) -> Option<bool> {')
w('        match self {')
for m in methods:
    if m['nowait']:
        w(f"            Method::{m['name']}(x) => Some(x.nowait),")
w('            _ => None,')
w('        }')
w('    }')
w('')
w('    /// Whether a content header and body frames follow this method.')
match_fn('has_content', 'bool', lambda m: 'true' if m['content'] else 'false')

w('    /// Appends class id, method id and arguments. On error `out` may hold a partial method; callers truncate.')
w('    /// Without the `server-codec` feature a method only servers send is refused')
w('    /// ([`EncodeError::Unrepresentable`]) before anything is written.')
w('    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {')
w(f'        {NOT_SERVER_CODEC}')
w('        if !self.id().sent_by_client() {')
w('            return Err(EncodeError::Unrepresentable("a method only servers send (feature server-codec)"));')
w('        }')
w('        let id = self.id();')
w('        put_u16(out, id.class);')
w('        put_u16(out, id.method);')
w('        // Strings and tables through `Puts`, which keeps the first failure: no error branch')
w('        // per field.')
w('        let mut w = Puts::new(out);')
w('        match self {')
for m in methods:
    if not m['args']:
        continue
    if not m['client']:
        w(f'            {SERVER_CODEC}')
    w(f"            Method::{m['name']}(x) => {{")
    bits = []
    def flush():
        if bits:
            expr = ' | '.join(f'x.{b} as u8' if i == 0 else f'((x.{b} as u8) << {i})' for i, b in enumerate(bits))
            w(f'                put_u8(w.out, {expr});')
            bits.clear()
    for n, t in m['args']:
        if t == 'bit':
            bits.append(n)
            continue
        flush()
        if t == 'octet': w(f'                put_u8(w.out, x.{n});')
        elif t == 'short': w(f'                put_u16(w.out, x.{n});')
        elif t == 'long': w(f'                put_u32(w.out, x.{n});')
        elif t in ('longlong', 'timestamp'): w(f'                put_u64(w.out, x.{n});')
        elif t == 'shortstr': w(f'                w.short_str("{m["cls"]}.{m["mname"]} {n}", &x.{n});')
        elif t == 'longstr': w(f'                w.long_str("{m["cls"]}.{m["mname"]} {n}", &x.{n});')
        elif t == 'table': w(f'                w.table(&x.{n});')
        else: raise Exception(t)
    flush()
    w('            }')
w('            // Argument-less methods (and, without server-codec, the server methods refused above).')
w('            _ => {}')
w('        }')
w('        w.finish()')
w('    }')
w('')

def dispatch(fname, rname, doc, cfg, accept, other):
    for line in doc:
        w(f'    /// {line}')
    if cfg:
        w(f'    {cfg}')
    w(f'    pub fn {fname}(payload: Bytes) -> Result<Method, DecodeError> {{')
    w(f'        Method::{rname}(&mut Reader::new(&payload))')
    w('    }')
    w('')
    w(f'    /// [`Method::{fname}`] from a reader over the whole payload (long strings are shared')
    w('    /// slices or copies as the reader makes them).')
    if cfg:
        w(f'    {cfg}')
    w(f"    pub fn {rname}(r: &mut Reader<'_>) -> Result<Method, DecodeError> {{")
    w('        let class = r.u16("method frame: class_id")?;')
    w('        let method = r.u16("method frame: method_id")?;')
    w('        let m = match (MethodId { class, method }) {')
    for m in methods:
        if not accept(m):
            continue
        key = f"MethodId::{m['const']}"
        w(f"            {key} => " + (f"{m['fn']}(r)," if m['args'] else f"Method::{m['name']},"))
    w(f'            id => return Err({other}),')
    w('        };')
    w('        r.finish()?;')
    w('        Ok(m)')
    w('    }')
    w('')

dispatch('decode_from_server', 'read_from_server',
         ['Decodes a whole method frame payload from a server: the methods a client receives. A method',
          'only clients send is [`DecodeError::UnexpectedMethod`]; trailing bytes are an error.'],
         None, lambda m: m['server'], 'not_decoded(id, MethodId::sent_by_client)')
dispatch('decode_from_client', 'read_from_client',
         ['Decodes a whole method frame payload from a client: the methods a server receives. A method',
          'only servers send is [`DecodeError::UnexpectedMethod`]; trailing bytes are an error.'],
         SERVER_CODEC, lambda m: m['client'], 'not_decoded(id, MethodId::sent_by_server)')
dispatch('decode', 'read_any',
         ['Decodes a whole method frame payload, any method in the spec; trailing bytes are an error.'],
         SERVER_CODEC, lambda m: True, 'DecodeError::UnknownMethod(id.class, id.method)')
w('}')
w('')
w('/// Why a decoder that takes one direction refused `id`: a method of the other direction, or one')
w('/// the spec does not define.')
w('fn not_decoded(id: MethodId, other_direction: fn(MethodId) -> bool) -> DecodeError {')
w('    if other_direction(id) {')
w('        DecodeError::UnexpectedMethod(id.class, id.method)')
w('    } else {')
w('        DecodeError::UnknownMethod(id.class, id.method)')
w('    }')
w('}')
w('')

# One decoder per method with arguments, shared by the dispatchers above. Fields are decoded
# into a defaulted struct in wire order with the Reader's sticky `take_*` reads: straight-line
# code, the first failure reported by the dispatcher's `r.finish()`.
for m in methods:
    if not m['args']:
        continue
    if not m['server']:
        w(SERVER_CODEC)
    w('#[inline]')
    w(f"fn {m['fn']}(r: &mut Reader<'_>) -> Method {{")
    w(f"    let mut x = {m['name']}::default();")
    bitpos = None
    for n, t in m['args']:
        if t == 'bit':
            if bitpos is None or bitpos == 8:
                w(f'    let bits = r.take_u8("{m["cls"]}.{m["mname"]}: {n}");')
                bitpos = 0
            w(f'    x.{n} = bits & (1 << {bitpos}) != 0;' if bitpos else f'    x.{n} = bits & 1 != 0;')
            bitpos += 1
            continue
        bitpos = None
        what = f'"{m["cls"]}.{m["mname"]}: {n}"'
        if t == 'shortstr':
            w(f'    r.take_short_str(&mut x.{n}, {what});')
            continue
        rd = {'octet': f'r.take_u8({what})', 'short': f'r.take_u16({what})', 'long': f'r.take_u32({what})',
              'longlong': f'r.take_u64({what})', 'timestamp': f'r.take_u64({what})',
              'longstr': f'r.take_long_str({what})', 'table': f'r.take_table({what})'}[t]
        w(f'    x.{n} = {rd};')
    w(f"    Method::{m['name']}(x)")
    w('}')
    w('')
written = [os.path.join(root, 'src/protocol/methods.rs')]
open(written[0], 'w').write('\n'.join(o) + '\n')

o = []
w = o.append
w('// @generated by scripts/gen-methods.py. Do not edit by hand.')
w('//! A proptest strategy producing every AMQP method with arbitrary arguments.')
w('use super::{field_table, long_str, short_str};')
w('use proptest::prelude::*;')
w('use proptest::strategy::Union;')
w('use warren::protocol::*;')
w('')
w('pub fn method() -> impl Strategy<Value = Method> {')
w('    Union::new(vec![')
for m in methods:
    if not m['args']:
        w(f"        Just(Method::{m['name']}).boxed(),")
        continue
    names = [n for n, _ in m['args']]
    strats = ', '.join(STRAT[t] for _, t in m['args'])
    if len(names) == 1:
        w(f"        ({strats},).prop_map(|({names[0]},)| Method::{m['name']}({m['name']} {{ {names[0]} }})).boxed(),")
    else:
        w(f"        ({strats}).prop_map(|({', '.join(names)})| Method::{m['name']}({m['name']} {{ {', '.join(names)} }})).boxed(),")
w('    ])')
w('}')
os.makedirs(os.path.join(root, 'tests/support'), exist_ok=True)
written.append(os.path.join(root, 'tests/support/method_strategy.rs'))
open(written[1], 'w').write('\n'.join(o) + '\n')
if shutil.which('rustfmt'):
    subprocess.run(['rustfmt', '--edition', '2021', *written], check=True)
print(f'{len(methods)} methods written')
