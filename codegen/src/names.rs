//! Mechanical name conversion from Kafka's spelling to Rust's.

/// `TimeoutMs` / `timeoutMs` → `timeout_ms`; `ZkVersion` → `zk_version`.
pub(crate) fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None => false,
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A field name usable as a Rust identifier (raw identifier for keywords).
pub(crate) fn field_ident(name: &str) -> String {
    let s = snake(name);
    match s.as_str() {
        "type" | "match" | "ref" | "mod" | "fn" | "struct" | "enum" | "loop" | "move" | "use"
        | "where" | "in" | "for" | "if" | "else" | "impl" | "trait" | "pub" | "return"
        | "static" | "const" | "let" | "mut" | "dyn" | "async" | "await" | "yield" | "gen"
        | "try" | "box" | "final" | "override" | "macro" | "virtual" | "abstract" | "become"
        | "do" | "priv" | "typeof" | "unsized" | "extern" | "unsafe" | "as" => format!("r#{s}"),
        _ => s,
    }
}

/// The identifier without any `r#` prefix, for building other names.
pub(crate) fn bare(ident: &str) -> &str {
    ident.strip_prefix("r#").unwrap_or(ident)
}

/// `UNKNOWN_SERVER_ERROR` → `UnknownServerError`.
pub(crate) fn pascal_from_upper_snake(name: &str) -> String {
    name.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let lower = p.to_ascii_lowercase();
            let mut c = lower.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// Escapes text for a Rust string literal.
pub(crate) fn escape(s: &str) -> String {
    s.chars().flat_map(char::escape_default).collect()
}

/// Makes schema `about` text safe inside a `///` comment.
pub(crate) fn doc_text(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
        .replace('[', "\\[")
        .replace(']', "\\]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(snake("TimeoutMs"), "timeout_ms");
        assert_eq!(snake("myInt16"), "my_int16");
        assert_eq!(snake("ZkVersion"), "zk_version");
        assert_eq!(snake("IsKRaftController"), "is_k_raft_controller");
        assert_eq!(snake("ProducerID"), "producer_id");
        assert_eq!(field_ident("Type"), "r#type");
        assert_eq!(bare("r#type"), "type");
        assert_eq!(
            pascal_from_upper_snake("UNKNOWN_SERVER_ERROR"),
            "UnknownServerError"
        );
        assert_eq!(escape("a\"b"), "a\\\"b");
    }
}
