//! libpcap, loaded when first used (`dlopen`), never at start-up: Debian's libpcap pulls in dbus, systemd,
//! gcrypt, lzma, zstd and lz4 as it loads, which doubled the start-up time of every `reachlab` process, also of
//! the runs that compile no filter and write no pcap. Only the few calls reachlab makes are bound here: compiling
//! and running a filter, writing and reading a savefile.

use std::ffi::{c_char, c_int, c_uchar, c_uint, c_void, CStr, CString};
use std::sync::OnceLock;

/// `DLT_EN10MB`: Ethernet.
pub const LINKTYPE_ETHERNET: c_int = 1;

/// libpcap's `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct BpfInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// libpcap's `struct bpf_program`.
#[repr(C)]
struct BpfProgramRaw {
    bf_len: c_uint,
    bf_insns: *mut BpfInsn,
}

/// libpcap's `struct pcap_pkthdr`.
#[repr(C)]
pub struct PacketHeader {
    pub ts: libc::timeval,
    pub caplen: u32,
    pub len: u32,
}

/// Declares the functions reachlab calls (`field: "symbol" => type`) and how they are resolved.
macro_rules! api {
    ($($field:ident: $name:literal => $t:ty,)*) => {
        /// The functions reachlab calls, resolved once.
        struct Api {
            $($field: $t,)*
        }

        fn resolve(handle: *mut c_void) -> Result<Api, String> {
            Ok(Api {
                $($field: {
                    let c = CString::new($name).expect("no NUL");
                    // SAFETY: the handle is open.
                    let p = unsafe { libc::dlsym(handle, c.as_ptr()) };
                    if p.is_null() {
                        return Err(format!("failed to load libpcap: it has no {}: {}", $name, dlerror()));
                    }
                    // SAFETY: the symbol is libpcap's function of that name; the type is its documented
                    // prototype.
                    unsafe { std::mem::transmute::<*mut c_void, $t>(p) }
                },)*
            })
        }
    };
}

api! {
    open_dead: "pcap_open_dead" => unsafe extern "C" fn(c_int, c_int) -> *mut c_void,
    open_offline: "pcap_open_offline" => unsafe extern "C" fn(*const c_char, *mut c_char) -> *mut c_void,
    close: "pcap_close" => unsafe extern "C" fn(*mut c_void),
    geterr: "pcap_geterr" => unsafe extern "C" fn(*mut c_void) -> *mut c_char,
    compile: "pcap_compile" => unsafe extern "C" fn(*mut c_void, *mut BpfProgramRaw, *const c_char, c_int, c_uint) -> c_int,
    freecode: "pcap_freecode" => unsafe extern "C" fn(*mut BpfProgramRaw),
    offline_filter: "pcap_offline_filter" => unsafe extern "C" fn(*const BpfProgramRaw, *const PacketHeader, *const c_uchar) -> c_int,
    datalink: "pcap_datalink" => unsafe extern "C" fn(*mut c_void) -> c_int,
    next_ex: "pcap_next_ex" => unsafe extern "C" fn(*mut c_void, *mut *mut PacketHeader, *mut *const c_uchar) -> c_int,
    dump_open: "pcap_dump_open" => unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void,
    dump: "pcap_dump" => unsafe extern "C" fn(*mut c_uchar, *const PacketHeader, *const c_uchar),
    dump_flush: "pcap_dump_flush" => unsafe extern "C" fn(*mut c_void) -> c_int,
    dump_close: "pcap_dump_close" => unsafe extern "C" fn(*mut c_void),
}

/// The names libpcap's shared object goes by (Debian's soname first).
const SONAMES: [&str; 3] = ["libpcap.so.0.8", "libpcap.so.1", "libpcap.so"];

fn dlerror() -> String {
    // SAFETY: dlerror returns a thread-local string or null.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown error".into()
    } else {
        // SAFETY: non-null, NUL-terminated.
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

fn load() -> Result<Api, String> {
    let mut why = Vec::new();
    let handle = SONAMES.iter().find_map(|name| {
        let c = CString::new(*name).expect("no NUL");
        // SAFETY: a library name; libpcap's initialisers have no requirements. The handle is never closed.
        let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if h.is_null() {
            why.push(dlerror());
            None
        } else {
            Some(h)
        }
    });
    let Some(handle) = handle else {
        return Err(format!("failed to load libpcap (install it; Debian: libpcap0.8): {}", why.join("; ")));
    };
    resolve(handle)
}

fn api() -> Result<&'static Api, String> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(load).as_ref().map_err(Clone::clone)
}

/// Whether libpcap can be loaded (`doctor`): the name it was found under is not kept, only the answer.
pub fn available() -> Result<(), String> {
    api().map(|_| ())
}

fn c_string(text: &str) -> Result<CString, String> {
    CString::new(text).map_err(|_| "a NUL byte in the text given to libpcap".to_string())
}

/// A `pcap_t`: a dead handle (for compiling and dumping) or an open savefile (for reading).
pub struct Handle {
    api: &'static Api,
    raw: *mut c_void,
}

// SAFETY: a pcap_t is used by one thread at a time (`&mut self` for everything that changes it).
unsafe impl Send for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: opened by libpcap, closed once.
        unsafe { (self.api.close)(self.raw) }
    }
}

impl Handle {
    /// `pcap_open_dead`: a handle for a link type that opens no device.
    pub fn dead(linktype: c_int, snaplen: u32) -> Result<Handle, String> {
        let api = api()?;
        // SAFETY: plain values.
        let raw = unsafe { (api.open_dead)(linktype, snaplen as c_int) };
        if raw.is_null() {
            return Err("pcap_open_dead failed".into());
        }
        Ok(Handle { api, raw })
    }

    /// `pcap_open_offline`: a savefile opened for reading.
    pub fn open_file(path: &str) -> Result<Handle, String> {
        let api = api()?;
        let path = c_string(path)?;
        let mut errbuf = [0 as c_char; 256]; // PCAP_ERRBUF_SIZE
                                             // SAFETY: a NUL-terminated path and a buffer of PCAP_ERRBUF_SIZE.
        let raw = unsafe { (api.open_offline)(path.as_ptr(), errbuf.as_mut_ptr()) };
        if raw.is_null() {
            // SAFETY: libpcap wrote a NUL-terminated message into errbuf.
            return Err(unsafe { CStr::from_ptr(errbuf.as_ptr()) }.to_string_lossy().into_owned());
        }
        Ok(Handle { api, raw })
    }

    fn error(&self) -> String {
        // SAFETY: the handle is open; geterr returns its NUL-terminated error buffer.
        unsafe { CStr::from_ptr((self.api.geterr)(self.raw)) }.to_string_lossy().into_owned()
    }

    /// `pcap_compile` (netmask 0); the error is libpcap's message.
    pub fn compile(&mut self, expression: &str, optimize: bool) -> Result<BpfProgram, String> {
        let text = c_string(expression)?;
        let mut raw = BpfProgramRaw { bf_len: 0, bf_insns: std::ptr::null_mut() };
        // SAFETY: the handle is open, `raw` is a bpf_program for libpcap to fill, the text NUL-terminated.
        let rc = unsafe { (self.api.compile)(self.raw, &mut raw, text.as_ptr(), c_int::from(optimize), 0) };
        if rc != 0 {
            return Err(self.error());
        }
        Ok(BpfProgram { api: self.api, raw })
    }

    /// `pcap_datalink`.
    pub fn datalink(&self) -> c_int {
        // SAFETY: the handle is open.
        unsafe { (self.api.datalink)(self.raw) }
    }

    /// `pcap_next_ex`: the next frame's header and bytes, `None` at the end of the file.
    pub fn next_packet(&mut self) -> Result<Option<(&PacketHeader, &[u8])>, String> {
        let mut header: *mut PacketHeader = std::ptr::null_mut();
        let mut data: *const c_uchar = std::ptr::null();
        // SAFETY: the handle is open; libpcap sets both pointers on success, valid until the next call (which
        // `&mut self` rules out while they are borrowed).
        match unsafe { (self.api.next_ex)(self.raw, &mut header, &mut data) } {
            1 => {
                // SAFETY: see above.
                let h = unsafe { &*header };
                let bytes = unsafe { std::slice::from_raw_parts(data, h.caplen as usize) };
                Ok(Some((h, bytes)))
            }
            -2 => Ok(None),
            0 => Err("pcap_next_ex timed out on a savefile".into()),
            _ => Err(self.error()),
        }
    }

    /// `pcap_dump_open`: a savefile created (or truncated) at `path`, its header written.
    pub fn dump_open(&self, path: &str) -> Result<Dumper, String> {
        let path = c_string(path)?;
        // SAFETY: the handle is open; the path NUL-terminated.
        let raw = unsafe { (self.api.dump_open)(self.raw, path.as_ptr()) };
        if raw.is_null() {
            return Err(self.error());
        }
        Ok(Dumper { api: self.api, raw })
    }
}

/// A compiled program (`struct bpf_program`), freed with `pcap_freecode`.
pub struct BpfProgram {
    api: &'static Api,
    raw: BpfProgramRaw,
}

// SAFETY: libpcap only reads a compiled program (`pcap_offline_filter`); it is freed once, on drop.
unsafe impl Send for BpfProgram {}
// SAFETY: as above: shared use only reads it.
unsafe impl Sync for BpfProgram {}

impl Drop for BpfProgram {
    fn drop(&mut self) {
        // SAFETY: compiled by libpcap, freed once.
        unsafe { (self.api.freecode)(&mut self.raw) }
    }
}

impl BpfProgram {
    /// Its instructions.
    pub fn instructions(&self) -> &[BpfInsn] {
        if self.raw.bf_insns.is_null() {
            return &[];
        }
        // SAFETY: libpcap allocated bf_len instructions at bf_insns, alive until freecode.
        unsafe { std::slice::from_raw_parts(self.raw.bf_insns, self.raw.bf_len as usize) }
    }

    /// `pcap_offline_filter` on a whole frame: whether the program keeps it.
    pub fn filter(&self, frame: &[u8]) -> bool {
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let header = PacketHeader { ts: libc::timeval { tv_sec: 0, tv_usec: 0 }, caplen: len, len };
        // SAFETY: the program is alive; header and frame describe `frame`'s bytes.
        unsafe { (self.api.offline_filter)(&self.raw, &header, frame.as_ptr()) > 0 }
    }
}

/// A savefile being written (`pcap_dumper_t`), closed on drop.
pub struct Dumper {
    api: &'static Api,
    raw: *mut c_void,
}

// SAFETY: used by one thread at a time (`&mut self`).
unsafe impl Send for Dumper {}

impl Drop for Dumper {
    fn drop(&mut self) {
        // SAFETY: opened by libpcap, closed once.
        unsafe { (self.api.dump_close)(self.raw) }
    }
}

impl Dumper {
    /// `pcap_dump`: appends a frame (`data` holds `header.caplen` bytes).
    pub fn write(&mut self, header: &PacketHeader, data: &[u8]) {
        debug_assert_eq!(header.caplen as usize, data.len());
        // SAFETY: the dumper is open; pcap_dump takes it as its `user` argument.
        unsafe { (self.api.dump)(self.raw.cast(), header, data.as_ptr()) }
    }

    /// `pcap_dump_flush`; libpcap reports write errors only here.
    pub fn flush(&mut self) -> Result<(), String> {
        // SAFETY: the dumper is open.
        match unsafe { (self.api.dump_flush)(self.raw) } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error().to_string()),
        }
    }
}
