//! Lines on stdout that tolerate a reader going away (`klamm ... | head`).

use std::fmt;
use std::io::Write;

/// Writes one line to stdout. A closed pipe ends the process quietly, as
/// SIGPIPE would for a C tool (Rust ignores SIGPIPE, so `println!` would panic).
pub(crate) fn line(args: fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("klamm: writing to stdout: {e}");
        std::process::exit(i32::from(crate::error::FAILED));
    }
}

/// `println!` through [`line`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
pub(crate) use out;
