//! Kafka's JSON message schemas, parsed into a small model.

use std::path::Path;

use serde_json::Value;

/// Highest version value; stands for "and every later version".
pub(crate) const OPEN: i16 = i16::MAX;

/// An inclusive version range; `"none"` is represented as `None` by callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Versions {
    pub(crate) min: i16,
    pub(crate) max: i16,
}

impl Versions {
    pub(crate) fn parse(s: &str) -> Result<Option<Versions>, String> {
        let s = s.trim();
        if s == "none" {
            return Ok(None);
        }
        let num = |t: &str| {
            t.trim()
                .parse::<i16>()
                .map_err(|e| format!("bad version `{s}`: {e}"))
        };
        if let Some(min) = s.strip_suffix('+') {
            return Ok(Some(Versions {
                min: num(min)?,
                max: OPEN,
            }));
        }
        if let Some((a, b)) = s.split_once('-') {
            return Ok(Some(Versions {
                min: num(a)?,
                max: num(b)?,
            }));
        }
        let v = num(s)?;
        Ok(Some(Versions { min: v, max: v }))
    }

    pub(crate) fn intersect(self, o: Versions) -> Option<Versions> {
        let min = self.min.max(o.min);
        let max = self.max.min(o.max);
        (min <= max).then_some(Versions { min, max })
    }
}

/// A field's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ty {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U16,
    U32,
    F64,
    Uuid,
    String,
    Bytes,
    Records,
    Array(Box<Ty>),
    Struct(String),
}

impl Ty {
    fn parse(s: &str) -> Ty {
        if let Some(inner) = s.strip_prefix("[]") {
            return Ty::Array(Box::new(Ty::parse(inner)));
        }
        match s {
            "bool" => Ty::Bool,
            "int8" => Ty::I8,
            "int16" => Ty::I16,
            "int32" => Ty::I32,
            "int64" => Ty::I64,
            "uint16" => Ty::U16,
            "uint32" => Ty::U32,
            "float64" => Ty::F64,
            "uuid" => Ty::Uuid,
            "string" => Ty::String,
            "bytes" => Ty::Bytes,
            "records" => Ty::Records,
            other => Ty::Struct(other.to_string()),
        }
    }
}

/// One field of a message or struct.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) ty: Ty,
    pub(crate) versions: Option<Versions>,
    pub(crate) nullable: Option<Versions>,
    pub(crate) tagged: Option<Versions>,
    pub(crate) tag: Option<u32>,
    pub(crate) ignorable: bool,
    pub(crate) default: Option<String>,
    pub(crate) about: Option<String>,
    /// Field-level `flexibleVersions` override (RequestHeader.ClientId).
    pub(crate) flexible_override: Option<Option<Versions>>,
    pub(crate) map_key: bool,
    /// Inline struct definition, when the field declares one.
    pub(crate) fields: Option<Vec<Field>>,
}

/// A struct: the message itself, an inline struct or a common struct.
#[derive(Debug, Clone)]
pub(crate) struct StructDef {
    pub(crate) name: String,
    pub(crate) about: Option<String>,
    pub(crate) fields: Vec<Field>,
}

/// One schema file.
#[derive(Debug, Clone)]
pub(crate) struct Schema {
    pub(crate) file: String,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) api_key: Option<i16>,
    pub(crate) valid: Versions,
    pub(crate) flexible: Option<Versions>,
    pub(crate) deprecated: Option<Versions>,
    /// Kafka marks the newest version as still changing.
    pub(crate) latest_unstable: bool,
    pub(crate) fields: Vec<Field>,
    pub(crate) common_structs: Vec<StructDef>,
}

/// Drops `//` line comments (whole-line or trailing, outside strings).
pub(crate) fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut escaped = false;
        let mut cut = line.len();
        let bytes = line.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if escaped {
                escaped = false;
                continue;
            }
            match b {
                b'\\' if in_str => escaped = true,
                b'"' => in_str = !in_str,
                b'/' if !in_str && bytes.get(i + 1) == Some(&b'/') => {
                    cut = i;
                    break;
                }
                _ => {}
            }
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn versions_field(v: &Value, key: &str) -> Result<Option<Option<Versions>>, String> {
    match str_field(v, key) {
        None => Ok(None),
        Some(s) => Versions::parse(s).map(Some),
    }
}

fn parse_fields(v: &Value) -> Result<Vec<Field>, String> {
    let Some(arr) = v.get("fields").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    arr.iter().map(parse_field).collect()
}

fn parse_field(v: &Value) -> Result<Field, String> {
    let name = str_field(v, "name")
        .ok_or("field without name")?
        .to_string();
    let ty = Ty::parse(str_field(v, "type").ok_or_else(|| format!("{name}: no type"))?);
    let tagged = versions_field(v, "taggedVersions")?.flatten();
    let versions = match versions_field(v, "versions")? {
        Some(r) => r,
        None => tagged,
    };
    let default = match v.get("default") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => return Err(format!("{name}: odd default {other}")),
    };
    let fields = if v.get("fields").is_some() {
        Some(parse_fields(v)?)
    } else {
        None
    };
    Ok(Field {
        tag: v.get("tag").and_then(Value::as_u64).map(|t| t as u32),
        nullable: versions_field(v, "nullableVersions")?.flatten(),
        ignorable: v.get("ignorable").and_then(Value::as_bool).unwrap_or(false),
        about: str_field(v, "about").map(str::to_string),
        flexible_override: versions_field(v, "flexibleVersions")?,
        map_key: v.get("mapKey").and_then(Value::as_bool).unwrap_or(false),
        name,
        ty,
        versions,
        tagged,
        default,
        fields,
    })
}

/// Parses one schema file's text.
pub(crate) fn parse(file: &str, text: &str) -> Result<Schema, String> {
    let v: Value =
        serde_json::from_str(&strip_comments(text)).map_err(|e| format!("{file}: {e}"))?;
    let ctx = |e: String| format!("{file}: {e}");
    let common_structs = match v.get("commonStructs").and_then(Value::as_array) {
        None => Vec::new(),
        Some(arr) => arr
            .iter()
            .map(|c| {
                Ok(StructDef {
                    name: str_field(c, "name")
                        .ok_or("common struct without name")?
                        .to_string(),
                    about: str_field(c, "about").map(str::to_string),
                    fields: parse_fields(c)?,
                })
            })
            .collect::<Result<_, String>>()
            .map_err(ctx)?,
    };
    Ok(Schema {
        file: file.to_string(),
        name: str_field(&v, "name")
            .ok_or_else(|| ctx("no name".into()))?
            .to_string(),
        kind: str_field(&v, "type").unwrap_or("data").to_string(),
        api_key: v.get("apiKey").and_then(Value::as_i64).map(|k| k as i16),
        valid: Versions::parse(
            str_field(&v, "validVersions").ok_or_else(|| ctx("no validVersions".into()))?,
        )
        .map_err(ctx)?
        .ok_or_else(|| ctx("validVersions none".into()))?,
        flexible: match str_field(&v, "flexibleVersions") {
            Some(s) => Versions::parse(s).map_err(ctx)?,
            None => None,
        },
        deprecated: match str_field(&v, "deprecatedVersions") {
            Some(s) => Versions::parse(s).map_err(ctx)?,
            None => None,
        },
        latest_unstable: v
            .get("latestVersionUnstable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        fields: parse_fields(&v).map_err(ctx)?,
        common_structs,
    })
}

/// Reads and parses one schema file.
pub(crate) fn load(path: &Path) -> Result<Schema, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = path
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or_default()
        .to_string();
    parse(&file, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ranges() {
        assert_eq!(
            Versions::parse("0-11").unwrap(),
            Some(Versions { min: 0, max: 11 })
        );
        assert_eq!(
            Versions::parse("9+").unwrap(),
            Some(Versions { min: 9, max: OPEN })
        );
        assert_eq!(
            Versions::parse("3").unwrap(),
            Some(Versions { min: 3, max: 3 })
        );
        assert_eq!(Versions::parse("none").unwrap(), None);
        assert!(Versions::parse("x").is_err());
    }

    #[test]
    fn comments_are_stripped_outside_strings() {
        let text = "// header\n{ \"a\": \"http://x\", // trailing\n \"b\": 1 }\n";
        let v: Value = serde_json::from_str(&strip_comments(text)).unwrap();
        assert_eq!(v["a"], "http://x");
        assert_eq!(v["b"], 1);
    }
}
