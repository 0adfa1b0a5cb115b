//! A small, safe reader for Python pickles (binary protocols 2 to 5).
//!
//! Hand-written on purpose: these files are made of class instances and
//! torch's persistent ids, which `serde-pickle`'s value model does not keep,
//! and candle's reader knows `.pth` tensors but not joblib objects.
//!
//! The authors publish their heads as `torch.save` checkpoints and their
//! scalers as `joblib` pickles; both are pickle streams. Python's unpickler
//! executes arbitrary code; this one only builds an inert value tree: a class
//! reference stays a [`Object::Global`] and a call (`REDUCE`, `NEWOBJ`) stays
//! an [`Instance`] recording what would have been called with what, for the
//! format readers ([`crate::torch`], [`crate::joblib`]) to interpret.
//!
//! Objects live in an arena and refer to each other by [`ObjRef`], so a memo
//! lookup (`BINGET`) shares instead of copying and later mutation (`SETITEMS`
//! on a memoised dict) is seen everywhere, as in Python. Each opcode creates
//! at most one object and every length field is checked against the bytes
//! left before use, so memory stays proportional to the input.
//!
//! Only the opcodes that `torch.save`, `pickle.dump` and `joblib.dump` emit
//! for tensors, arrays and plain Python containers are implemented; any other
//! opcode is an [`FormatError::UnsupportedOpcode`] naming it and its offset.

use std::collections::HashMap;

use crate::FormatError;

/// A reference to an object in a [`Pickle`]'s arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ObjRef(u32);

impl ObjRef {
    /// The arena index, for diagnostics.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// How an [`Instance`] was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Construct {
    /// `REDUCE`: `callable(*args)`.
    Reduce,
    /// `NEWOBJ`: `cls.__new__(cls, *args)`.
    NewObj,
}

/// A call the pickle asks for, recorded instead of executed.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// What is called: usually an [`Object::Global`].
    pub callable: ObjRef,
    /// The argument tuple.
    pub args: ObjRef,
    /// `REDUCE` or `NEWOBJ`.
    pub construct: Construct,
    /// The argument of the last `BUILD` (`__setstate__`), if any.
    pub state: Option<ObjRef>,
    /// Key-value pairs added with `SETITEM(S)` (e.g. an `OrderedDict`'s items).
    pub items: Vec<(ObjRef, ObjRef)>,
    /// Values added with `APPEND(S)`.
    pub appended: Vec<ObjRef>,
}

/// One pickled value.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A larger integer: little-endian two's complement bytes (`LONG1`/`LONG4`).
    BigInt(Vec<u8>),
    /// A float.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `bytes` value.
    Bytes(Vec<u8>),
    /// A tuple.
    Tuple(Vec<ObjRef>),
    /// A list.
    List(Vec<ObjRef>),
    /// A dict, in insertion order (a repeated key keeps both; lookups take the last).
    Dict(Vec<(ObjRef, ObjRef)>),
    /// A set or frozenset.
    Set(Vec<ObjRef>),
    /// A reference to a module attribute (`GLOBAL`, `STACK_GLOBAL`), usually a class or function.
    Global {
        /// The module, e.g. `collections`.
        module: String,
        /// The attribute, e.g. `OrderedDict`.
        name: String,
    },
    /// An object built by a call (`REDUCE`, `NEWOBJ`).
    Instance(Box<Instance>),
    /// `persistent_load(pid)` (`BINPERSID`): the argument is the persistent id.
    Persistent(ObjRef),
    /// A NumPy array whose raw bytes a [`BuildHook`] read out of the stream.
    Array(crate::ndarray::NdArray),
}

/// Reads raw bytes embedded in a pickle stream after an opcode.
///
/// Exists for [`BuildHook`]s: joblib writes each NumPy array's bytes straight
/// into the stream after the wrapper object's `BUILD`.
pub struct RawInput<'a, 'b> {
    data: &'a [u8],
    pos: &'b mut usize,
}

impl<'a> RawInput<'a, '_> {
    /// Current byte offset.
    pub fn offset(&self) -> usize {
        *self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(*self.pos)
    }

    /// Takes the next `n` bytes, failing (without allocating) when fewer remain.
    pub fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], FormatError> {
        take(self.data, self.pos, n, what)
    }
}

/// A callback run after every `BUILD`, for formats that embed raw data in the stream.
pub trait BuildHook {
    /// Called with the object that `BUILD` just updated. It may consume raw
    /// bytes that follow in the stream and return an object to replace the
    /// built one on the stack (joblib's `NumpyArrayWrapper` becomes its array).
    fn after_build(
        &mut self,
        pickle: &Pickle,
        built: ObjRef,
        input: &mut RawInput<'_, '_>,
    ) -> Result<Option<Object>, FormatError>;
}

/// A parsed pickle: the object arena and the root object.
#[derive(Clone, Debug)]
pub struct Pickle {
    objects: Vec<Object>,
    root: ObjRef,
    end: usize,
}

/// Opcode names, for error messages (Python's `pickletools` spelling).
fn opcode_name(code: u8) -> &'static str {
    match code {
        b'(' => "MARK",
        b'.' => "STOP",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'L' => "LONG",
        b'M' => "BININT2",
        b'N' => "NONE",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'R' => "REDUCE",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'X' => "BINUNICODE",
        b'a' => "APPEND",
        b'b' => "BUILD",
        b'c' => "GLOBAL",
        b'd' => "DICT",
        b'}' => "EMPTY_DICT",
        b'e' => "APPENDS",
        b'g' => "GET",
        b'h' => "BINGET",
        b'i' => "INST",
        b'j' => "LONG_BINGET",
        b'l' => "LIST",
        b']' => "EMPTY_LIST",
        b'o' => "OBJ",
        b'p' => "PUT",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        b's' => "SETITEM",
        b't' => "TUPLE",
        b')' => "EMPTY_TUPLE",
        b'u' => "SETITEMS",
        b'G' => "BINFLOAT",
        0x80 => "PROTO",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        0x88 => "NEWTRUE",
        0x89 => "NEWFALSE",
        0x8a => "LONG1",
        0x8b => "LONG4",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8",
        0x8e => "BINBYTES8",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x93 => "STACK_GLOBAL",
        0x94 => "MEMOIZE",
        0x95 => "FRAME",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "unknown",
    }
}

/// Takes `n` bytes at `*pos`, checking the length against what is left first.
fn take<'a>(data: &'a [u8], pos: &mut usize, n: u64, what: &'static str) -> Result<&'a [u8], FormatError> {
    let available = data.len().saturating_sub(*pos);
    if n > available as u64 {
        return Err(FormatError::Truncated { offset: *pos, what, needed: n, available: available as u64 });
    }
    // `n <= available <= usize::MAX`, so the cast is lossless and the range in bounds.
    let n = n as usize;
    let out = &data[*pos..*pos + n];
    *pos += n;
    Ok(out)
}

fn take_array<const N: usize>(data: &[u8], pos: &mut usize, what: &'static str) -> Result<[u8; N], FormatError> {
    let bytes = take(data, pos, N as u64, what)?;
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    Ok(out)
}

/// Decodes a little-endian two's complement integer (`LONG1`/`LONG4`).
fn decode_long(bytes: &[u8]) -> Object {
    if bytes.is_empty() {
        return Object::Int(0);
    }
    if bytes.len() <= 8 {
        let negative = bytes[bytes.len() - 1] & 0x80 != 0;
        let mut buf = if negative { [0xffu8; 8] } else { [0u8; 8] };
        buf[..bytes.len()].copy_from_slice(bytes);
        return Object::Int(i64::from_le_bytes(buf));
    }
    Object::BigInt(bytes.to_vec())
}

struct Parser<'a, 'h> {
    data: &'a [u8],
    pos: usize,
    objects: Vec<Object>,
    stack: Vec<ObjRef>,
    marks: Vec<usize>,
    memo: HashMap<u32, ObjRef>,
    hook: Option<&'h mut dyn BuildHook>,
    /// Offset of the opcode being executed, for errors.
    op_offset: usize,
}

impl<'a> Parser<'a, '_> {
    fn malformed(&self, reason: impl Into<String>) -> FormatError {
        FormatError::MalformedPickle { offset: self.op_offset, reason: reason.into() }
    }

    fn alloc(&mut self, obj: Object) -> Result<ObjRef, FormatError> {
        let id = u32::try_from(self.objects.len()).map_err(|_| self.malformed("more than 2^32 objects"))?;
        self.objects.push(obj);
        Ok(ObjRef(id))
    }

    fn push(&mut self, obj: Object) -> Result<(), FormatError> {
        let r = self.alloc(obj)?;
        self.stack.push(r);
        Ok(())
    }

    fn pop(&mut self) -> Result<ObjRef, FormatError> {
        // A mark protects the items above it: popping below it is an error.
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.malformed("stack underflow"));
        }
        self.stack.pop().ok_or_else(|| self.malformed("stack underflow"))
    }

    fn top(&self) -> Result<ObjRef, FormatError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.malformed("stack underflow"));
        }
        self.stack.last().copied().ok_or_else(|| self.malformed("stack underflow"))
    }

    /// Pops everything above the last mark, and the mark.
    fn pop_mark(&mut self) -> Result<Vec<ObjRef>, FormatError> {
        let mark = self.marks.pop().ok_or_else(|| self.malformed("no MARK on the stack"))?;
        if mark > self.stack.len() {
            return Err(self.malformed("MARK above the stack top"));
        }
        Ok(self.stack.split_off(mark))
    }

    fn bytes(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], FormatError> {
        take(self.data, &mut self.pos, n, what)
    }

    fn string(&mut self, n: u64, what: &'static str) -> Result<String, FormatError> {
        let start = self.pos;
        let bytes = self.bytes(n, what)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|e| FormatError::MalformedPickle { offset: start, reason: format!("{what} is not UTF-8: {e}") })
    }

    /// Reads a `GLOBAL` operand line (up to `\n`).
    fn line(&mut self) -> Result<String, FormatError> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        let len = rest.iter().position(|&b| b == b'\n').ok_or(FormatError::Truncated {
            offset: self.pos,
            what: "GLOBAL name line",
            needed: rest.len() as u64 + 1,
            available: rest.len() as u64,
        })?;
        let s = self.string(len as u64, "GLOBAL name")?;
        self.pos += 1; // the newline, known present
        Ok(s)
    }

    fn memo_put(&mut self, key: u32) -> Result<(), FormatError> {
        let top = self.top()?;
        self.memo.insert(key, top);
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> Result<(), FormatError> {
        let r = *self.memo.get(&key).ok_or_else(|| self.malformed(format!("memo key {key} not defined")))?;
        self.stack.push(r);
        Ok(())
    }

    fn set_items(&mut self, target: ObjRef, pairs: Vec<(ObjRef, ObjRef)>) -> Result<(), FormatError> {
        let reason = match &mut self.objects[target.index()] {
            Object::Dict(items) => {
                items.extend(pairs);
                return Ok(());
            }
            Object::Instance(inst) => {
                inst.items.extend(pairs);
                return Ok(());
            }
            other => format!("SETITEM on {}", kind_name(other)),
        };
        Err(self.malformed(reason))
    }

    fn append_items(&mut self, target: ObjRef, values: Vec<ObjRef>) -> Result<(), FormatError> {
        let reason = match &mut self.objects[target.index()] {
            Object::List(items) => {
                items.extend(values);
                return Ok(());
            }
            Object::Instance(inst) => {
                inst.appended.extend(values);
                return Ok(());
            }
            other => format!("APPEND on {}", kind_name(other)),
        };
        Err(self.malformed(reason))
    }

    fn run(mut self) -> Result<Pickle, FormatError> {
        loop {
            self.op_offset = self.pos;
            let code = take_array::<1>(self.data, &mut self.pos, "opcode")?[0];
            match code {
                0x80 => {
                    let version = take_array::<1>(self.data, &mut self.pos, "PROTO version")?[0];
                    if version > 5 {
                        return Err(self.malformed(format!("pickle protocol {version} is newer than 5")));
                    }
                }
                0x95 => {
                    // FRAME: a length hint; opcodes continue across frames unchanged.
                    let len = u64::from_le_bytes(take_array(self.data, &mut self.pos, "FRAME length")?);
                    let left = self.data.len().saturating_sub(self.pos) as u64;
                    if len > left {
                        return Err(FormatError::Truncated {
                            offset: self.pos,
                            what: "FRAME",
                            needed: len,
                            available: left,
                        });
                    }
                }
                b'.' => {
                    let root = self.pop()?;
                    return Ok(Pickle { objects: self.objects, root, end: self.pos });
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    // POP: an item, or the mark when the stack top is a mark.
                    if self.marks.last() == Some(&self.stack.len()) {
                        self.marks.pop();
                    } else {
                        self.pop()?;
                    }
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?;
                    self.stack.push(top);
                }
                b'N' => self.push(Object::None)?,
                0x88 => self.push(Object::Bool(true))?,
                0x89 => self.push(Object::Bool(false))?,
                b'J' => {
                    let v = i32::from_le_bytes(take_array(self.data, &mut self.pos, "BININT")?);
                    self.push(Object::Int(i64::from(v)))?
                }
                b'K' => {
                    let v = take_array::<1>(self.data, &mut self.pos, "BININT1")?[0];
                    self.push(Object::Int(i64::from(v)))?
                }
                b'M' => {
                    let v = u16::from_le_bytes(take_array(self.data, &mut self.pos, "BININT2")?);
                    self.push(Object::Int(i64::from(v)))?
                }
                0x8a => {
                    let n = take_array::<1>(self.data, &mut self.pos, "LONG1 length")?[0];
                    let bytes = self.bytes(u64::from(n), "LONG1")?;
                    self.push(decode_long(bytes))?
                }
                0x8b => {
                    let n = i32::from_le_bytes(take_array(self.data, &mut self.pos, "LONG4 length")?);
                    let n = u64::try_from(n).map_err(|_| self.malformed("negative LONG4 length"))?;
                    let bytes = self.bytes(n, "LONG4")?;
                    self.push(decode_long(bytes))?
                }
                b'G' => {
                    let v = f64::from_be_bytes(take_array(self.data, &mut self.pos, "BINFLOAT")?);
                    self.push(Object::Float(v))?
                }
                b'X' => {
                    let n = u32::from_le_bytes(take_array(self.data, &mut self.pos, "BINUNICODE length")?);
                    let s = self.string(u64::from(n), "BINUNICODE")?;
                    self.push(Object::Str(s))?
                }
                0x8c => {
                    let n = take_array::<1>(self.data, &mut self.pos, "SHORT_BINUNICODE length")?[0];
                    let s = self.string(u64::from(n), "SHORT_BINUNICODE")?;
                    self.push(Object::Str(s))?
                }
                0x8d => {
                    let n = u64::from_le_bytes(take_array(self.data, &mut self.pos, "BINUNICODE8 length")?);
                    let s = self.string(n, "BINUNICODE8")?;
                    self.push(Object::Str(s))?
                }
                b'C' => {
                    let n = take_array::<1>(self.data, &mut self.pos, "SHORT_BINBYTES length")?[0];
                    let b = self.bytes(u64::from(n), "SHORT_BINBYTES")?.to_vec();
                    self.push(Object::Bytes(b))?
                }
                b'B' => {
                    let n = u32::from_le_bytes(take_array(self.data, &mut self.pos, "BINBYTES length")?);
                    let b = self.bytes(u64::from(n), "BINBYTES")?.to_vec();
                    self.push(Object::Bytes(b))?
                }
                0x8e => {
                    let n = u64::from_le_bytes(take_array(self.data, &mut self.pos, "BINBYTES8 length")?);
                    let b = self.bytes(n, "BINBYTES8")?.to_vec();
                    self.push(Object::Bytes(b))?
                }
                b')' => self.push(Object::Tuple(Vec::new()))?,
                b']' => self.push(Object::List(Vec::new()))?,
                b'}' => self.push(Object::Dict(Vec::new()))?,
                0x8f => self.push(Object::Set(Vec::new()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Object::Tuple(items))?
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Object::List(items))?
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push(Object::Set(items))?
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    if !items.len().is_multiple_of(2) {
                        return Err(self.malformed("DICT with an odd number of items"));
                    }
                    let pairs = items.chunks_exact(2).map(|p| (p[0], p[1])).collect();
                    self.push(Object::Dict(pairs))?
                }
                0x85..=0x87 => {
                    let n = usize::from(code - 0x84);
                    let floor = self.marks.last().copied().unwrap_or(0);
                    if self.stack.len() < floor + n {
                        return Err(self.malformed("stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Object::Tuple(items))?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Object::Global { module, name })?
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Object::Str(module), Object::Str(name)) =
                        (&self.objects[module.index()], &self.objects[name.index()])
                    else {
                        return Err(self.malformed("STACK_GLOBAL operands are not strings"));
                    };
                    let g = Object::Global { module: module.clone(), name: name.clone() };
                    self.push(g)?
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    if !matches!(self.objects[args.index()], Object::Tuple(_)) {
                        return Err(self.malformed(format!("{} arguments are not a tuple", opcode_name(code))));
                    }
                    let construct = if code == b'R' { Construct::Reduce } else { Construct::NewObj };
                    let inst =
                        Instance { callable, args, construct, state: None, items: Vec::new(), appended: Vec::new() };
                    self.push(Object::Instance(Box::new(inst)))?
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    match &mut self.objects[target.index()] {
                        Object::Instance(inst) => inst.state = Some(state),
                        other => {
                            let reason = format!("BUILD on {}", kind_name(other));
                            return Err(self.malformed(reason));
                        }
                    }
                    if let Some(hook) = self.hook.take() {
                        let snapshot =
                            Pickle { objects: std::mem::take(&mut self.objects), root: target, end: self.pos };
                        let mut raw = RawInput { data: self.data, pos: &mut self.pos };
                        let result = hook.after_build(&snapshot, target, &mut raw);
                        self.objects = snapshot.objects;
                        self.hook = Some(hook);
                        if let Some(replacement) = result? {
                            self.pop()?;
                            self.push(replacement)?;
                        }
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.push(Object::Persistent(pid))?
                }
                b'q' => {
                    let key = take_array::<1>(self.data, &mut self.pos, "BINPUT index")?[0];
                    self.memo_put(u32::from(key))?
                }
                b'r' => {
                    let key = u32::from_le_bytes(take_array(self.data, &mut self.pos, "LONG_BINPUT index")?);
                    self.memo_put(key)?
                }
                0x94 => {
                    let key = u32::try_from(self.memo.len()).map_err(|_| self.malformed("memo overflow"))?;
                    self.memo_put(key)?
                }
                b'h' => {
                    let key = take_array::<1>(self.data, &mut self.pos, "BINGET index")?[0];
                    self.memo_get(u32::from(key))?
                }
                b'j' => {
                    let key = u32::from_le_bytes(take_array(self.data, &mut self.pos, "LONG_BINGET index")?);
                    self.memo_get(key)?
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    let target = self.top()?;
                    self.set_items(target, vec![(key, value)])?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    if !items.len().is_multiple_of(2) {
                        return Err(self.malformed("SETITEMS with an odd number of items"));
                    }
                    let target = self.top()?;
                    let pairs = items.chunks_exact(2).map(|p| (p[0], p[1])).collect();
                    self.set_items(target, pairs)?
                }
                b'a' => {
                    let value = self.pop()?;
                    let target = self.top()?;
                    self.append_items(target, vec![value])?
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let target = self.top()?;
                    self.append_items(target, items)?
                }
                0x90 => {
                    let items = self.pop_mark()?;
                    let target = self.top()?;
                    match &mut self.objects[target.index()] {
                        Object::Set(set) => set.extend(items),
                        other => {
                            let reason = format!("ADDITEMS on {}", kind_name(other));
                            return Err(self.malformed(reason));
                        }
                    }
                }
                other => {
                    return Err(FormatError::UnsupportedOpcode {
                        code: other,
                        name: opcode_name(other),
                        offset: self.op_offset,
                    })
                }
            }
        }
    }
}

/// A short type name for error messages.
fn kind_name(obj: &Object) -> &'static str {
    match obj {
        Object::None => "None",
        Object::Bool(_) => "a bool",
        Object::Int(_) | Object::BigInt(_) => "an int",
        Object::Float(_) => "a float",
        Object::Str(_) => "a str",
        Object::Bytes(_) => "bytes",
        Object::Tuple(_) => "a tuple",
        Object::List(_) => "a list",
        Object::Dict(_) => "a dict",
        Object::Set(_) => "a set",
        Object::Global { .. } => "a global",
        Object::Instance(_) => "an instance",
        Object::Persistent(_) => "a persistent reference",
        Object::Array(_) => "an array",
    }
}

/// Parses the pickle that starts at the beginning of `data`, up to its `STOP`.
///
/// Bytes after the `STOP` are ignored ([`Pickle::end`] says where it was).
pub fn parse(data: &[u8]) -> Result<Pickle, FormatError> {
    parse_from(data, 0, None)
}

/// Parses the pickle starting at byte `offset` of `data`, running `hook`
/// (if any) after every `BUILD`. Offsets in errors are offsets into `data`.
pub fn parse_from(data: &[u8], offset: usize, hook: Option<&mut dyn BuildHook>) -> Result<Pickle, FormatError> {
    let parser = Parser {
        data,
        pos: offset,
        objects: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        hook,
        op_offset: offset,
    };
    parser.run()
}

impl Pickle {
    /// The object the pickle evaluates to.
    pub fn root(&self) -> ObjRef {
        self.root
    }

    /// Byte offset just after the `STOP` opcode.
    pub fn end(&self) -> usize {
        self.end
    }

    /// The object behind a reference. References from this pickle are always
    /// valid; a foreign one out of range reads as `None`.
    pub fn get(&self, r: ObjRef) -> &Object {
        self.objects.get(r.index()).unwrap_or(&Object::None)
    }

    /// The string value, if `r` is a `str`.
    pub fn as_str(&self, r: ObjRef) -> Option<&str> {
        match self.get(r) {
            Object::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer value, if `r` is an int fitting 64 bits (or a bool).
    pub fn as_int(&self, r: ObjRef) -> Option<i64> {
        match self.get(r) {
            Object::Int(v) => Some(*v),
            Object::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// The float value of a float or int.
    pub fn as_f64(&self, r: ObjRef) -> Option<f64> {
        match self.get(r) {
            Object::Float(v) => Some(*v),
            Object::Int(v) => Some(*v as f64),
            _ => None,
        }
    }

    /// The items of a tuple or list.
    pub fn as_seq(&self, r: ObjRef) -> Option<&[ObjRef]> {
        match self.get(r) {
            Object::Tuple(v) | Object::List(v) => Some(v),
            _ => None,
        }
    }

    /// The instance, if `r` was built by a call.
    pub fn as_instance(&self, r: ObjRef) -> Option<&Instance> {
        match self.get(r) {
            Object::Instance(i) => Some(i),
            _ => None,
        }
    }

    /// `(module, name)` if `r` is a global.
    pub fn as_global(&self, r: ObjRef) -> Option<(&str, &str)> {
        match self.get(r) {
            Object::Global { module, name } => Some((module, name)),
            _ => None,
        }
    }

    /// `(module, name)` of the callable that built `r`, if `r` is an instance
    /// built by calling a global (i.e. its class for `NEWOBJ`).
    pub fn class_of(&self, r: ObjRef) -> Option<(&str, &str)> {
        self.as_global(self.as_instance(r)?.callable)
    }

    /// The key-value pairs of a dict, or of an instance filled with
    /// `SETITEMS` (an `OrderedDict`).
    pub fn mapping(&self, r: ObjRef) -> Option<&[(ObjRef, ObjRef)]> {
        match self.get(r) {
            Object::Dict(items) => Some(items),
            Object::Instance(inst) => Some(&inst.items),
            _ => None,
        }
    }

    /// The value under string key `key` in a mapping (the last one when repeated).
    pub fn lookup(&self, mapping: ObjRef, key: &str) -> Option<ObjRef> {
        self.mapping(mapping)?.iter().rev().find(|(k, _)| self.as_str(*k) == Some(key)).map(|(_, v)| *v)
    }

    /// A one-line description of an object for error messages: its type, a
    /// class name or a short value. Never recurses more than a few levels.
    pub fn describe(&self, r: ObjRef) -> String {
        self.describe_depth(r, 0)
    }

    fn describe_depth(&self, r: ObjRef, depth: usize) -> String {
        match self.get(r) {
            Object::None => "None".into(),
            Object::Bool(b) => if *b { "True" } else { "False" }.into(),
            Object::Int(v) => format!("int {v}"),
            Object::BigInt(b) => format!("int of {} bytes", b.len()),
            Object::Float(v) => format!("float {v}"),
            Object::Str(s) if s.len() <= 40 => format!("str {s:?}"),
            Object::Str(s) => format!("str of {} bytes", s.len()),
            Object::Bytes(b) => format!("bytes of length {}", b.len()),
            Object::Tuple(v) => format!("tuple of {}", v.len()),
            Object::List(v) => format!("list of {}", v.len()),
            Object::Dict(v) => format!("dict of {} items", v.len()),
            Object::Set(v) => format!("set of {}", v.len()),
            Object::Global { module, name } => format!("{module}.{name}"),
            Object::Instance(inst) => {
                let class = if depth < 3 { self.describe_depth(inst.callable, depth + 1) } else { "?".into() };
                match inst.construct {
                    Construct::Reduce => format!("{class}(...) result"),
                    Construct::NewObj => format!("{class} object"),
                }
            }
            Object::Persistent(_) => "persistent reference".into(),
            Object::Array(a) => format!("array {} {:?}", a.dtype.descr(), a.shape),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_dict_with_memo_and_build() {
        // collections.OrderedDict() with two items and a BUILD state, protocol 2.
        let mut p = vec![0x80, 2];
        p.extend(b"ccollections\nOrderedDict\nq\x00)Rq\x01(");
        p.extend(b"X\x01\x00\x00\x00aK\x05");
        p.extend(b"X\x01\x00\x00\x00bG\x3f\xf8\x00\x00\x00\x00\x00\x00");
        p.extend(b"u}q\x02b.");
        let pk = parse(&p).unwrap();
        let root = pk.root();
        assert_eq!(pk.class_of(root), Some(("collections", "OrderedDict")));
        assert_eq!(pk.as_int(pk.lookup(root, "a").unwrap()), Some(5));
        assert_eq!(pk.as_f64(pk.lookup(root, "b").unwrap()), Some(1.5));
        assert!(pk.as_instance(root).unwrap().state.is_some());
        assert_eq!(pk.end(), p.len());
    }

    #[test]
    fn memo_shares_mutations() {
        // d = {}; memoised; then SETITEM on it; then BINGET returns the filled dict.
        let p = b"\x80\x04]\x94(}\x94h\x01K\x01K\x02se.";
        let pk = parse(p).unwrap();
        let items = pk.as_seq(pk.root()).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], items[1]);
        assert_eq!(pk.mapping(items[0]).unwrap().len(), 1);
    }

    #[test]
    fn longs() {
        assert_eq!(decode_long(&[]), Object::Int(0));
        assert_eq!(decode_long(&[0xff]), Object::Int(-1));
        assert_eq!(decode_long(&[0x00, 0x80, 0x00]), Object::Int(32768));
        assert_eq!(decode_long(&[0x00, 0x80]), Object::Int(-32768));
        assert_eq!(decode_long(&[0x00, 0x80, 0xff]), Object::Int(-32768));
        assert!(matches!(decode_long(&[0u8; 9]), Object::BigInt(_)));
    }

    #[test]
    fn errors_name_opcode_and_offset() {
        let e = parse(b"\x80\x02I1\n.").unwrap_err();
        assert!(matches!(e, FormatError::UnsupportedOpcode { code: b'I', offset: 2, .. }), "{e}");
        assert!(e.to_string().contains("INT"), "{e}");
        let e = parse(b"\x80\x02X\xff\xff\xff\xff").unwrap_err();
        assert!(matches!(e, FormatError::Truncated { .. }), "{e}");
        let e = parse(b"\x80\x02.").unwrap_err();
        assert!(matches!(e, FormatError::MalformedPickle { .. }), "{e}");
        let e = parse(b"").unwrap_err();
        assert!(matches!(e, FormatError::Truncated { .. }), "{e}");
        let e = parse(b"\x80\x02h\x07.").unwrap_err();
        assert!(e.to_string().contains("memo key 7"), "{e}");
    }
}
