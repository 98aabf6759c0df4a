//! Emits the Rust for one schema: its structs, `Default`, setters, and the
//! `Encodable` / `Decodable` impls, as straight-line code with one branch
//! per field and version condition.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::names::{bare, doc_text, escape, field_ident};
use crate::schema::{Field, OPEN, Schema, StructDef, Ty, Versions};

/// Tag given to the unknown tagged field that sample values carry; above
/// every tag Kafka's schemas use, so it sorts after the known ones.
const SAMPLE_UNKNOWN_TAG: u32 = 10_000;

/// A version condition, simplified against the message's valid versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cond {
    True,
    False,
    Expr(String),
}

impl Cond {
    fn of(r: Option<Versions>, valid: Versions) -> Cond {
        let Some(i) = r.and_then(|r| r.intersect(valid)) else {
            return Cond::False;
        };
        if i == valid {
            Cond::True
        } else if i.max == valid.max {
            Cond::Expr(format!("version >= {}", i.min))
        } else if i.min == valid.min {
            Cond::Expr(format!("version <= {}", i.max))
        } else if i.min == i.max {
            Cond::Expr(format!("version == {}", i.min))
        } else {
            Cond::Expr(format!("({}..={}).contains(&version)", i.min, i.max))
        }
    }

    /// The condition as a boolean expression.
    fn expr(&self) -> String {
        match self {
            Cond::True => "true".into(),
            Cond::False => "false".into(),
            Cond::Expr(e) => e.clone(),
        }
    }
}

/// Everything about one schema the emitter needs.
pub(crate) struct SchemaGen<'a> {
    schema: &'a Schema,
    structs: BTreeMap<String, StructDef>,
    order: Vec<String>,
}

impl<'a> SchemaGen<'a> {
    pub(crate) fn new(schema: &'a Schema) -> Result<Self, String> {
        let mut g = SchemaGen {
            schema,
            structs: BTreeMap::new(),
            order: Vec::new(),
        };
        g.add_struct(StructDef {
            name: schema.name.clone(),
            about: None,
            fields: schema.fields.clone(),
        })?;
        for c in &schema.common_structs {
            g.add_struct(c.clone())?;
        }
        // Every struct a field names must now be known.
        for s in g.structs.values() {
            for f in &s.fields {
                if let Some(name) = struct_name(&f.ty) {
                    if !g.structs.contains_key(name) {
                        return Err(format!("{}: unknown struct {name}", schema.file));
                    }
                }
            }
        }
        Ok(g)
    }

    fn add_struct(&mut self, def: StructDef) -> Result<(), String> {
        if self.structs.contains_key(&def.name) {
            return Err(format!(
                "{}: struct {} defined twice",
                self.schema.file, def.name
            ));
        }
        let nested: Vec<StructDef> = def
            .fields
            .iter()
            .filter_map(|f| {
                let fields = f.fields.clone()?;
                Some(StructDef {
                    name: struct_name(&f.ty)?.to_string(),
                    about: f.about.clone(),
                    fields,
                })
            })
            .collect();
        self.order.push(def.name.clone());
        self.structs.insert(def.name.clone(), def);
        for n in nested {
            self.add_struct(n)?;
        }
        Ok(())
    }

    fn valid(&self) -> Versions {
        self.schema.valid
    }

    fn flexible(&self) -> Cond {
        Cond::of(self.schema.flexible, self.valid())
    }

    /// Smallest wire size of a value, used to bound array counts. Only
    /// counts what every valid version carries.
    fn min_size(&self, ty: &Ty) -> usize {
        match ty {
            Ty::Bool | Ty::I8 => 1,
            Ty::I16 | Ty::U16 => 2,
            Ty::I32 | Ty::U32 => 4,
            Ty::I64 | Ty::F64 => 8,
            Ty::Uuid => 16,
            Ty::String | Ty::Bytes | Ty::Records | Ty::Array(_) => 1,
            Ty::Struct(name) => {
                let Some(def) = self.structs.get(name) else {
                    return 1;
                };
                let sum: usize = def
                    .fields
                    .iter()
                    .filter(|f| {
                        f.tagged.is_none()
                            && f.versions.is_some_and(|v| {
                                v.min <= self.valid().min && v.max >= self.valid().max
                            })
                    })
                    .map(|f| {
                        if f.nullable.is_some() && matches!(f.ty, Ty::Struct(_)) {
                            1
                        } else {
                            self.min_size(&f.ty)
                        }
                    })
                    .sum();
                sum.max(1)
            }
        }
    }

    /// Emits every struct of the schema.
    pub(crate) fn emit(&self, out: &mut String, top_level_doc: &str) -> Result<(), String> {
        for (i, name) in self.order.iter().enumerate() {
            let def = &self.structs[name];
            self.emit_struct(out, def, i == 0, top_level_doc)?;
        }
        Ok(())
    }

    fn emit_struct(
        &self,
        out: &mut String,
        def: &StructDef,
        top: bool,
        top_doc: &str,
    ) -> Result<(), String> {
        let name = &def.name;
        let doc = if top {
            top_doc.to_string()
        } else {
            def.about
                .as_deref()
                .map(doc_text)
                .unwrap_or_else(|| format!("Nested struct `{name}`."))
        };
        let valid = self.valid();
        let _ = writeln!(out, "/// {doc}");
        let mut derive_default = true;
        for f in &def.fields {
            let d = default_expr(f)?;
            let zero = matches!(
                d.as_str(),
                "false"
                    | "0"
                    | "0.0"
                    | "Uuid::NIL"
                    | "StrBytes::new()"
                    | "Bytes::new()"
                    | "Vec::new()"
                    | "None"
            ) || d.ends_with("::default()");
            derive_default &= zero;
        }
        let derives = if derive_default {
            "Debug, Clone, PartialEq, Default"
        } else {
            "Debug, Clone, PartialEq"
        };
        let _ = writeln!(
            out,
            "#[derive({derives})]\n#[non_exhaustive]\npub struct {name} {{"
        );
        for f in &def.fields {
            let _ = writeln!(out, "/// {}", field_doc(f, valid));
            let _ = writeln!(out, "pub {}: {},", field_ident(&f.name), rust_type(f));
        }
        let _ = writeln!(
            out,
            "/// Tagged fields this code does not know, kept so that re-encoding reproduces them.\npub unknown_tagged_fields: Vec<RawTaggedField>,"
        );
        if self.has_known_tags(def) {
            let _ = writeln!(
                out,
                "/// Known tagged fields that were on the wire when decoded (an encoding hint,\n/// ignored by equality).\npub tagged_fields_seen: TaggedFieldsSeen,"
            );
        }
        let _ = writeln!(out, "}}\n");
        // Default: derived when every field's default is its type's.
        if !derive_default {
            let _ = writeln!(
                out,
                "impl Default for {name} {{\nfn default() -> Self {{\nSelf {{"
            );
            for f in &def.fields {
                let _ = writeln!(out, "{}: {},", field_ident(&f.name), default_expr(f)?);
            }
            let seen = if self.has_known_tags(def) {
                "tagged_fields_seen: TaggedFieldsSeen::new(),\n"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "unknown_tagged_fields: Vec::new(),\n{seen}}}\n}}\n}}\n"
            );
        }
        // Setters.
        let _ = writeln!(out, "impl {name} {{");
        for f in &def.fields {
            let id = field_ident(&f.name);
            let _ = writeln!(
                out,
                "/// Sets [`Self::{}`].\npub fn with_{}(mut self, value: {}) -> Self {{\nself.{id} = value;\nself\n}}",
                bare(&id),
                bare(&id),
                rust_type(f)
            );
        }
        let _ = writeln!(
            out,
            "/// Sets [`Self::unknown_tagged_fields`].\npub fn with_unknown_tagged_fields(mut self, value: Vec<RawTaggedField>) -> Self {{\nself.unknown_tagged_fields = value;\nself\n}}\n}}\n"
        );
        if top {
            let flex = match self.schema.flexible.and_then(|f| f.intersect(valid)) {
                Some(f) => format!("Some(VersionRange::new({}, {}))", f.min, f.max),
                None => "None".into(),
            };
            let _ = writeln!(
                out,
                "impl Message for {name} {{\nconst NAME: &'static str = \"{name}\";\nconst VERSIONS: VersionRange = VersionRange::new({}, {});\nconst FLEXIBLE_VERSIONS: Option<VersionRange> = {flex};\n}}\n",
                valid.min, valid.max
            );
        }
        self.emit_encode(out, def, top)?;
        self.emit_decode(out, def, top)?;
        self.emit_sample(out, def)?;
        Ok(())
    }

    fn field_conds(&self, f: &Field) -> (Cond, Cond, Cond) {
        let valid = self.valid();
        let present = Cond::of(f.versions, valid);
        // Tagged versions, simplified within the flexible versions (the
        // tagged section is only read and written there).
        let tagged = match (
            f.tagged,
            f.versions,
            self.schema.flexible.and_then(|x| x.intersect(valid)),
        ) {
            (Some(t), Some(v), Some(flex)) => {
                match t.intersect(v).and_then(|t| t.intersect(flex)) {
                    None => Cond::False,
                    Some(t) if t == flex => Cond::True,
                    Some(t) => Cond::of(Some(t), valid),
                }
            }
            _ => Cond::False,
        };
        // Regular (untagged) versions: `versions` minus the tagged suffix.
        let regular = match (f.versions, f.tagged) {
            (None, _) => Cond::False,
            (Some(v), None) => Cond::of(Some(v), valid),
            (Some(v), Some(t)) => {
                if t.min <= v.min {
                    Cond::False
                } else {
                    Cond::of(
                        Some(Versions {
                            min: v.min,
                            max: v.max.min(t.min - 1),
                        }),
                        valid,
                    )
                }
            }
        };
        (present, regular, tagged)
    }

    /// When the field may be null, among the versions where it is present
    /// (outside them the question never arises).
    fn null_cond(&self, f: &Field) -> Cond {
        let Some(universe) = f.versions.and_then(|v| v.intersect(self.valid())) else {
            return Cond::False;
        };
        match f.nullable.and_then(|n| n.intersect(universe)) {
            None => Cond::False,
            Some(n) if n == universe => Cond::True,
            Some(n) => Cond::of(Some(n), self.valid()),
        }
    }

    fn flex_for(&self, f: &Field) -> String {
        match f.flexible_override {
            Some(o) => Cond::of(o, self.valid()).expr(),
            None => match self.flexible() {
                Cond::True => "true".into(),
                Cond::False => "false".into(),
                Cond::Expr(_) => "flexible".into(),
            },
        }
    }

    fn emit_encode(&self, out: &mut String, def: &StructDef, top: bool) -> Result<(), String> {
        let name = &def.name;
        let mut body = String::new();
        if top {
            let _ = writeln!(
                body,
                "if !Self::VERSIONS.contains(version) {{\nreturn Err(EncodeError::new(\"{name}\", \"\", version, EncodeErrorKind::UnsupportedVersion));\n}}"
            );
        }
        if let Cond::Expr(e) = self.flexible() {
            let _ = writeln!(body, "let flexible = {e};");
        }
        let _ = writeln!(
            body,
            "let err = |field: &'static str, kind: EncodeErrorKind| EncodeError::new(\"{name}\", field, version, kind);"
        );
        for f in &def.fields {
            let (present, regular, _tagged) = self.field_conds(f);
            let id = field_ident(&f.name);
            let write = self.write_field(f, &id)?;
            let not_default = not_default(f, &format!("self.{id}"))?;
            let missing = format!(
                "return Err(err(\"{}\", EncodeErrorKind::FieldNotInVersion));",
                f.name
            );
            match (&regular, &present) {
                (Cond::True, _) => body.push_str(&write),
                (Cond::False, Cond::True) => {}
                (Cond::False, _) => {
                    if !f.ignorable {
                        let guard = match &present {
                            Cond::Expr(p) => format!("{} && {not_default}", negate(p)),
                            _ => not_default.clone(),
                        };
                        let _ = writeln!(body, "if {guard} {{\n{missing}\n}}");
                    }
                }
                (Cond::Expr(r), _) => {
                    if f.ignorable || present == Cond::True {
                        let _ = writeln!(body, "if {r} {{\n{write}}}");
                    } else {
                        let guard = match &present {
                            Cond::Expr(p) if p != r => format!("{} && {not_default}", negate(p)),
                            _ => not_default.clone(),
                        };
                        let _ = writeln!(
                            body,
                            "if {r} {{\n{write}}} else if {guard} {{\n{missing}\n}}"
                        );
                    }
                }
            }
        }
        // Tagged-field section.
        let flex = self.flexible();
        if flex != Cond::False {
            let mut sec = String::new();
            let mut tagged: Vec<&Field> = def
                .fields
                .iter()
                .filter(|f| self.field_conds(f).2 != Cond::False)
                .collect();
            tagged.sort_by_key(|f| f.tag.unwrap_or(0));
            if tagged.is_empty() {
                let _ = writeln!(
                    sec,
                    "put_uvarint(buf, self.unknown_tagged_fields.len() as u64);\nlet mut next = 0;\nenc::put_unknown_tagged_before(buf, &self.unknown_tagged_fields, &mut next, None);"
                );
            } else {
                let _ = writeln!(sec, "let mut count = self.unknown_tagged_fields.len();");
                for f in &tagged {
                    let id = field_ident(&f.name);
                    let cond = self.tag_write_cond(f, &id)?;
                    let _ = writeln!(sec, "if {cond} {{\ncount += 1;\n}}");
                }
                let _ = writeln!(sec, "put_uvarint(buf, count as u64);\nlet mut next = 0;");
                for f in &tagged {
                    let id = field_ident(&f.name);
                    let tag = f
                        .tag
                        .ok_or_else(|| format!("{}: tagged without tag", f.name))?;
                    let cond = self.tag_write_cond(f, &id)?;
                    let write = self.write_field(f, &id)?;
                    let _ = writeln!(
                        sec,
                        "enc::put_unknown_tagged_before(buf, &self.unknown_tagged_fields, &mut next, Some({tag}));\nif {cond} {{\nenc::put_tagged_field(buf, {tag}, |buf| {{\n{write}Ok::<(), EncodeError>(())\n}})?;\n}}"
                    );
                }
                let _ = writeln!(
                    sec,
                    "enc::put_unknown_tagged_before(buf, &self.unknown_tagged_fields, &mut next, None);"
                );
            }
            match flex {
                Cond::True => body.push_str(&sec),
                _ => {
                    let _ = writeln!(body, "if flexible {{\n{sec}}}");
                }
            }
        }
        let mut body = if body.contains("err(") {
            body
        } else {
            drop_line(&body, "let err = ")
        };
        if !uses_version(&body) {
            // Every version encodes the same way (all fields always present).
            body.insert_str(0, "let _ = version;\n");
        }
        let _ = writeln!(
            out,
            "impl Encodable for {name} {{\nfn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {{\n{body}Ok(())\n}}\n}}\n"
        );
        Ok(())
    }

    /// Whether the struct has known tagged fields in some version.
    fn has_known_tags(&self, def: &StructDef) -> bool {
        def.fields
            .iter()
            .any(|f| self.field_conds(f).2 != Cond::False)
    }

    fn tag_write_cond(&self, f: &Field, id: &str) -> Result<String, String> {
        let (_, _, tagged) = self.field_conds(f);
        let tag = f
            .tag
            .ok_or_else(|| format!("{}: tagged without tag", f.name))?;
        if tag >= 64 {
            return Err(format!("{}: tag {tag} above 63 is not supported", f.name));
        }
        // Written when not default, or when it arrived on the wire (re-encoding).
        let nd = format!(
            "({} || self.tagged_fields_seen.contains({tag}))",
            not_default(f, &format!("self.{id}"))?
        );
        Ok(match tagged {
            // Drop the outer parentheses added above.
            Cond::True => nd
                .strip_prefix('(')
                .and_then(|n| n.strip_suffix(')'))
                .unwrap_or(&nd)
                .to_string(),
            Cond::Expr(e) => format!("{e} && {nd}"),
            Cond::False => "false".into(),
        })
    }

    /// Statements writing `self.<id>` (which is present in this version).
    fn write_field(&self, f: &Field, id: &str) -> Result<String, String> {
        let flex = self.flex_for(f);
        let fname = &f.name;
        let place = format!("self.{id}");
        let null_cond = self.null_cond(f);
        let mut s = String::new();
        if f.nullable.is_none() {
            s.push_str(&self.write_value(&f.ty, &place, false, fname, &flex)?);
            return Ok(s);
        }
        // Nullable field: `Option<T>`.
        let null_err = format!("return Err(err(\"{fname}\", EncodeErrorKind::NullNotAllowed));");
        match &f.ty {
            Ty::String if null_cond == Cond::True => {
                let _ = writeln!(
                    s,
                    "enc::put_nullable_string(buf, {place}.as_deref(), {flex}).map_err(|k| err(\"{fname}\", k))?;"
                );
            }
            Ty::Bytes | Ty::Records if null_cond == Cond::True => {
                let _ = writeln!(
                    s,
                    "enc::put_nullable_bytes(buf, {place}.as_deref(), {flex}).map_err(|k| err(\"{fname}\", k))?;"
                );
            }
            ty => {
                let null_write = match ty {
                    Ty::String => "buf.put_i16(-1);".to_string(),
                    Ty::Struct(_) => "buf.put_i8(-1);".to_string(),
                    _ => format!("enc::put_null_array(buf, {flex});"),
                };
                let null_write = if matches!(ty, Ty::String) {
                    format!(
                        "enc::put_nullable_string(buf, None, {flex}).map_err(|k| err(\"{fname}\", k))?;"
                    )
                } else if matches!(ty, Ty::Bytes | Ty::Records) {
                    format!(
                        "enc::put_nullable_bytes(buf, None, {flex}).map_err(|k| err(\"{fname}\", k))?;"
                    )
                } else {
                    null_write
                };
                let on_null = match &null_cond {
                    Cond::True => null_write,
                    Cond::False => null_err,
                    Cond::Expr(e) => format!("if {e} {{\n{null_write}\n}} else {{\n{null_err}\n}}"),
                };
                let present_prefix = if matches!(ty, Ty::Struct(_)) && null_cond != Cond::False {
                    match &null_cond {
                        Cond::True => "buf.put_i8(1);\n".to_string(),
                        Cond::Expr(e) => format!("if {e} {{\nbuf.put_i8(1);\n}}\n"),
                        Cond::False => String::new(),
                    }
                } else {
                    String::new()
                };
                let inner = self.write_value(ty, "v", true, fname, &flex)?;
                let _ = writeln!(
                    s,
                    "match &{place} {{\nSome(v) => {{\n{present_prefix}{inner}}}\nNone => {{\n{on_null}\n}}\n}}"
                );
            }
        }
        Ok(s)
    }

    /// Statements writing a non-null value; `is_ref` says whether `a` is a
    /// reference (`v`) or a place (`self.x`).
    fn write_value(
        &self,
        ty: &Ty,
        a: &str,
        is_ref: bool,
        fname: &str,
        flex: &str,
    ) -> Result<String, String> {
        let val = if is_ref {
            format!("*{a}")
        } else {
            a.to_string()
        };
        let r = if is_ref {
            a.to_string()
        } else {
            format!("&{a}")
        };
        let me = format!(".map_err(|k| err(\"{fname}\", k))?;");
        Ok(match ty {
            Ty::Bool => format!("buf.put_u8(u8::from({val}));\n"),
            Ty::I8 => format!("buf.put_i8({val});\n"),
            Ty::I16 => format!("buf.put_i16({val});\n"),
            Ty::I32 => format!("buf.put_i32({val});\n"),
            Ty::I64 => format!("buf.put_i64({val});\n"),
            Ty::U16 => format!("buf.put_u16({val});\n"),
            Ty::U32 => format!("buf.put_u32({val});\n"),
            Ty::F64 => format!("buf.put_f64({val});\n"),
            Ty::Uuid => format!("buf.put_slice({a}.as_bytes());\n"),
            Ty::String => format!("enc::put_string(buf, {r}, {flex}){me}\n"),
            Ty::Bytes | Ty::Records => format!("enc::put_bytes(buf, {r}, {flex}){me}\n"),
            Ty::Struct(_) => format!("{a}.encode(buf, version)?;\n"),
            Ty::Array(inner) => {
                if matches!(**inner, Ty::Array(_)) {
                    return Err(format!("{fname}: arrays of arrays are not supported"));
                }
                let elem = self.write_value(inner, "el", true, fname, flex)?;
                format!(
                    "enc::put_array_len(buf, {a}.len(), {flex}){me}\nfor el in {r} {{\n{elem}}}\n"
                )
            }
        })
    }

    fn emit_decode(&self, out: &mut String, def: &StructDef, top: bool) -> Result<(), String> {
        let name = &def.name;
        let mut body = String::new();
        if top {
            let _ = writeln!(
                body,
                "if !Self::VERSIONS.contains(version) {{\nreturn Err(DecodeError::new(\"{name}\", \"\", version, DecodeErrorKind::UnsupportedVersion));\n}}"
            );
        }
        if let Cond::Expr(e) = self.flexible() {
            let _ = writeln!(body, "let flexible = {e};");
        }
        let _ = writeln!(
            body,
            "let err = |field: &'static str| move |kind: DecodeErrorKind| DecodeError::new(\"{name}\", field, version, kind);"
        );
        let mut tagged: Vec<&Field> = Vec::new();
        for f in &def.fields {
            let (_, regular, tag_cond) = self.field_conds(f);
            let local = format!("f_{}", bare(&field_ident(&f.name)));
            let mutable = if tag_cond != Cond::False {
                tagged.push(f);
                "mut "
            } else {
                ""
            };
            let read = self.read_field(f)?;
            match regular {
                Cond::True => {
                    let _ = writeln!(body, "let {mutable}{local} = {read};");
                }
                Cond::False => {
                    let _ = writeln!(body, "let {mutable}{local} = {};", default_expr(f)?);
                }
                Cond::Expr(e) => {
                    let _ = writeln!(
                        body,
                        "let {mutable}{local} = if {e} {{\n{read}\n}} else {{\n{}\n}};",
                        default_expr(f)?
                    );
                }
            }
        }
        let flex = self.flexible();
        let has_unknown = flex != Cond::False;
        if has_unknown {
            let mut sec = String::new();
            let _ = writeln!(
                sec,
                "let count = dec::get_tag_count(buf).map_err(err(\"_tagged_fields\"))?;\nfor _ in 0..count {{\nlet (tag, data) = dec::get_tagged_field(buf).map_err(err(\"_tagged_fields\"))?;"
            );
            if tagged.is_empty() {
                let _ = writeln!(
                    sec,
                    "unknown_tagged_fields.push(RawTaggedField {{ tag, data }});"
                );
            } else {
                let _ = writeln!(sec, "match tag {{");
                tagged.sort_by_key(|f| f.tag.unwrap_or(0));
                for f in &tagged {
                    let tag = f
                        .tag
                        .ok_or_else(|| format!("{}: tagged without tag", f.name))?;
                    let (_, _, tc) = self.field_conds(f);
                    let guard = match tc {
                        Cond::Expr(e) => format!(" if {e}"),
                        _ => String::new(),
                    };
                    let local = format!("f_{}", bare(&field_ident(&f.name)));
                    let read = self.read_field(f)?;
                    let _ = writeln!(
                        sec,
                        "{tag}{guard} => {{\nlet declared = data.len();\nlet mut data = data;\nlet buf = &mut data;\n{local} = {read};\ndec::tagged_field_done({tag}, declared, buf).map_err(err(\"{}\"))?;\ntagged_fields_seen.insert({tag});\n}}",
                        f.name
                    );
                }
                let _ = writeln!(
                    sec,
                    "_ => unknown_tagged_fields.push(RawTaggedField {{ tag, data }}),\n}}"
                );
            }
            let _ = writeln!(sec, "}}");
            let _ = writeln!(body, "let mut unknown_tagged_fields = Vec::new();");
            if !tagged.is_empty() {
                let _ = writeln!(
                    body,
                    "let mut tagged_fields_seen = TaggedFieldsSeen::new();"
                );
            }
            match flex {
                Cond::True => body.push_str(&sec),
                _ => {
                    let _ = writeln!(body, "if flexible {{\n{sec}}}");
                }
            }
        }
        let _ = writeln!(body, "Ok(Self {{");
        for f in &def.fields {
            let id = field_ident(&f.name);
            let _ = writeln!(body, "{id}: f_{},", bare(&id));
        }
        if has_unknown {
            let seen = if self.has_known_tags(def) {
                "tagged_fields_seen,\n"
            } else {
                ""
            };
            let _ = writeln!(body, "unknown_tagged_fields,\n{seen}}})");
        } else {
            let _ = writeln!(body, "unknown_tagged_fields: Vec::new(),\n}})");
        }
        let mut body = if body.contains("err(") {
            body
        } else {
            drop_line(&body, "let err = ")
        };
        if !uses_version(&body) {
            body.insert_str(0, "let _ = version;\n");
        }
        // Nested structs are decoded in one place each, usually in a loop:
        // inlining lets the element be built in place.
        let inline = if top { "" } else { "#[inline]\n" };
        let _ = writeln!(
            out,
            "impl Decodable for {name} {{\n{inline}fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {{\n{body}}}\n}}\n"
        );
        Ok(())
    }

    /// Expression reading the field (present in this version) from `buf`.
    fn read_field(&self, f: &Field) -> Result<String, String> {
        let flex = self.flex_for(f);
        let fname = &f.name;
        let me = format!(".map_err(err(\"{fname}\"))?");
        if f.nullable.is_none() {
            return self.read_value(&f.ty, fname, &flex);
        }
        let null_cond = self.null_cond(f);
        let nullable_read = match &f.ty {
            Ty::String => format!("dec::get_nullable_string(buf, {flex}){me}"),
            Ty::Bytes | Ty::Records => format!("dec::get_nullable_bytes(buf, {flex}){me}"),
            Ty::Struct(s) => format!(
                "if dec::get_struct_present(buf){me} {{\nSome({s}::decode(buf, version)?)\n}} else {{\nNone\n}}"
            ),
            Ty::Array(inner) => {
                let elem = self.read_value(inner, fname, &flex)?;
                format!(
                    "match dec::get_nullable_array_len(buf, {flex}, {}){me} {{\nSome(n) => {{\nlet mut v = Vec::with_capacity(dec::prealloc::<{}>(n));\nfor _ in 0..n {{\nv.push({elem});\n}}\nSome(v)\n}}\nNone => None,\n}}",
                    self.min_size(inner),
                    base_type(inner)
                )
            }
            _ => return Err(format!("{fname}: nullable {:?} unsupported", f.ty)),
        };
        let some_read = format!("Some({})", self.read_value(&f.ty, fname, &flex)?);
        Ok(match null_cond {
            Cond::True => nullable_read,
            Cond::False => some_read,
            Cond::Expr(e) => format!("if {e} {{\n{nullable_read}\n}} else {{\n{some_read}\n}}"),
        })
    }

    fn read_value(&self, ty: &Ty, fname: &str, flex: &str) -> Result<String, String> {
        let me = format!(".map_err(err(\"{fname}\"))?");
        Ok(match ty {
            Ty::Bool => format!("dec::get_bool(buf){me}"),
            Ty::I8 => format!("dec::get_i8(buf){me}"),
            Ty::I16 => format!("dec::get_i16(buf){me}"),
            Ty::I32 => format!("dec::get_i32(buf){me}"),
            Ty::I64 => format!("dec::get_i64(buf){me}"),
            Ty::U16 => format!("dec::get_u16(buf){me}"),
            Ty::U32 => format!("dec::get_u32(buf){me}"),
            Ty::F64 => format!("dec::get_f64(buf){me}"),
            Ty::Uuid => format!("dec::get_uuid(buf){me}"),
            Ty::String => format!("dec::get_string(buf, {flex}){me}"),
            Ty::Bytes | Ty::Records => format!("dec::get_bytes(buf, {flex}){me}"),
            Ty::Struct(s) => format!("{s}::decode(buf, version)?"),
            Ty::Array(inner) => {
                let elem = self.read_value(inner, fname, flex)?;
                format!(
                    "{{\nlet n = dec::get_array_len(buf, {flex}, {}){me};\nlet mut v = Vec::with_capacity(dec::prealloc::<{}>(n));\nfor _ in 0..n {{\nv.push({elem});\n}}\nv\n}}",
                    self.min_size(inner),
                    base_type(inner)
                )
            }
        })
    }

    /// A test-only constructor filling every field present in `version`.
    fn emit_sample(&self, out: &mut String, def: &StructDef) -> Result<(), String> {
        let name = &def.name;
        let mut body = String::new();
        for (idx, f) in def.fields.iter().enumerate() {
            let (present, _, _) = self.field_conds(f);
            let id = field_ident(&f.name);
            let salt = idx as u64 + 1;
            let mut value = self.sample_value(&f.ty, salt)?;
            if f.nullable.is_some() {
                value = match self.null_cond(f) {
                    Cond::False => format!("Some({value})"),
                    c => format!(
                        "if {} && seed % 3 == 2 {{ None }} else {{ Some({value}) }}",
                        c.expr()
                    ),
                };
            }
            let v = match present {
                Cond::True => value,
                Cond::False => default_expr(f)?,
                Cond::Expr(e) => format!("if {e} {{ {value} }} else {{ {} }}", default_expr(f)?),
            };
            let _ = writeln!(body, "{id}: {v},");
        }
        let seen = if self.has_known_tags(def) {
            "tagged_fields_seen: TaggedFieldsSeen::new(),\n"
        } else {
            ""
        };
        let unknown = match self.flexible() {
            Cond::False => "Vec::new()".to_string(),
            c => format!(
                "if {} {{ vec![RawTaggedField {{ tag: {SAMPLE_UNKNOWN_TAG}, data: Bytes::from(vec![seed as u8, 1, 2]) }}] }} else {{ Vec::new() }}",
                c.expr()
            ),
        };
        let _ = writeln!(
            out,
            "#[cfg(test)]\nimpl {name} {{\n/// A value with every field present in `version` set from `seed`.\n#[allow(unused_variables, clippy::cast_possible_truncation, clippy::overly_complex_bool_expr, clippy::nonminimal_bool)]\npub(crate) fn sample(version: i16, seed: u64) -> Self {{\nSelf {{\n{body}unknown_tagged_fields: {unknown},\n{seen}}}\n}}\n}}\n"
        );
        Ok(())
    }

    fn sample_value(&self, ty: &Ty, salt: u64) -> Result<String, String> {
        Ok(match ty {
            Ty::Bool => format!("(seed + {salt}) % 2 == 0"),
            Ty::I8 => format!("(seed + {salt}) as i8"),
            Ty::I16 => format!("(seed * 7 + {salt}) as i16"),
            Ty::I32 => format!("(seed * 1_000_003 + {salt}) as i32"),
            Ty::I64 => format!("(seed * 1_000_000_007 + {salt}) as i64"),
            Ty::U16 => format!("(seed * 3 + {salt}) as u16"),
            Ty::U32 => format!("(seed * 5 + {salt}) as u32"),
            Ty::F64 => format!("(seed + {salt}) as f64 * 0.5"),
            Ty::Uuid => {
                format!("Uuid::from_bytes((u128::from(seed) << 64 | {salt}).to_be_bytes())")
            }
            Ty::String => format!("StrBytes::from(format!(\"s{{seed}}-{salt}\"))"),
            Ty::Bytes | Ty::Records => format!("Bytes::from(vec![seed as u8, {salt}, 0xff])"),
            Ty::Struct(s) => {
                format!("{s}::sample(version, seed.wrapping_mul(31).wrapping_add({salt}))")
            }
            Ty::Array(inner) => {
                let elem = self.sample_value(inner, salt)?.replace("seed", "s");
                format!(
                    "(0..2u64).map(|i| {{ let s = seed.wrapping_mul(17).wrapping_add(i); {elem} }}).collect()"
                )
            }
        })
    }
}

/// The negation of a condition expression made by [`Cond::of`].
fn negate(e: &str) -> String {
    if let Some(n) = e.strip_prefix("version >= ") {
        format!("version < {n}")
    } else if let Some(n) = e.strip_prefix("version <= ") {
        format!("version > {n}")
    } else if let Some(n) = e.strip_prefix("version == ") {
        format!("version != {n}")
    } else {
        format!("!{e}")
    }
}

fn uses_version(body: &str) -> bool {
    body.contains("version")
}

fn drop_line(body: &str, prefix: &str) -> String {
    body.lines()
        .filter(|l| !l.trim_start().starts_with(prefix))
        .map(|l| format!("{l}\n"))
        .collect()
}

pub(crate) fn struct_name(ty: &Ty) -> Option<&str> {
    match ty {
        Ty::Struct(s) => Some(s),
        Ty::Array(inner) => struct_name(inner),
        _ => None,
    }
}

pub(crate) fn fmt_range(r: Option<Versions>) -> String {
    match r {
        None => "none".into(),
        Some(Versions { min, max: OPEN }) => format!("{min}+"),
        Some(Versions { min, max }) if min == max => format!("{min}"),
        Some(Versions { min, max }) => format!("{min}-{max}"),
    }
}

fn field_doc(f: &Field, _valid: Versions) -> String {
    let mut d = f
        .about
        .as_deref()
        .map(doc_text)
        .unwrap_or_else(|| format!("`{}`.", f.name));
    if !d.ends_with('.') {
        d.push('.');
    }
    let _ = write!(d, " Versions: {}", fmt_range(f.versions));
    if f.nullable.is_some() {
        let _ = write!(d, "; nullable: {}", fmt_range(f.nullable));
    }
    if let (Some(t), Some(tag)) = (f.tagged, f.tag) {
        let _ = write!(d, "; tagged (tag {tag}): {}", fmt_range(Some(t)));
    }
    if f.ignorable {
        d.push_str("; ignorable");
    }
    if f.map_key {
        d.push_str("; map key (kept as a plain list)");
    }
    if let Some(def) = &f.default {
        let _ = write!(d, "; default: `{}`", def.replace('`', ""));
    }
    d.push('.');
    d
}

fn base_type(ty: &Ty) -> String {
    match ty {
        Ty::Bool => "bool".into(),
        Ty::I8 => "i8".into(),
        Ty::I16 => "i16".into(),
        Ty::I32 => "i32".into(),
        Ty::I64 => "i64".into(),
        Ty::U16 => "u16".into(),
        Ty::U32 => "u32".into(),
        Ty::F64 => "f64".into(),
        Ty::Uuid => "Uuid".into(),
        Ty::String => "StrBytes".into(),
        Ty::Bytes | Ty::Records => "Bytes".into(),
        Ty::Array(inner) => format!("Vec<{}>", base_type(inner)),
        Ty::Struct(s) => s.clone(),
    }
}

pub(crate) fn rust_type(f: &Field) -> String {
    if f.nullable.is_some() {
        format!("Option<{}>", base_type(&f.ty))
    } else {
        base_type(&f.ty)
    }
}

fn parse_int(d: &str) -> Result<i128, String> {
    let t = d.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i128::from_str_radix(h, 16)
    } else {
        t.parse::<i128>()
    }
    .map_err(|e| format!("bad integer default `{d}`: {e}"))?;
    Ok(if neg { -v } else { v })
}

fn base64_16(s: &str) -> Result<[u8; 16], String> {
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(16);
    for c in s.chars().filter(|c| *c != '=') {
        let v = match c {
            'A'..='Z' => c as u32 - 'A' as u32,
            'a'..='z' => c as u32 - 'a' as u32 + 26,
            '0'..='9' => c as u32 - '0' as u32 + 52,
            '-' | '+' => 62,
            '_' | '/' => 63,
            _ => return Err(format!("bad base64 uuid `{s}`")),
        };
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    out.try_into()
        .map_err(|_| format!("uuid default `{s}` is not 16 bytes"))
}

fn nonnull_default(ty: &Ty, d: Option<&str>) -> Result<String, String> {
    let d = d.filter(|d| *d != "null");
    Ok(match ty {
        Ty::Bool => match d {
            Some(d) if d.eq_ignore_ascii_case("true") => "true".into(),
            _ => "false".into(),
        },
        Ty::I8 | Ty::I16 | Ty::I32 | Ty::I64 | Ty::U16 | Ty::U32 => match d {
            Some(d) => {
                let v = parse_int(d)?;
                let (lo, hi): (i128, i128) = match ty {
                    Ty::I8 => (i8::MIN.into(), i8::MAX.into()),
                    Ty::I16 => (i16::MIN.into(), i16::MAX.into()),
                    Ty::I32 => (i32::MIN.into(), i32::MAX.into()),
                    Ty::U16 => (0, u16::MAX.into()),
                    Ty::U32 => (0, u32::MAX.into()),
                    _ => (i64::MIN.into(), i64::MAX.into()),
                };
                if v < lo || v > hi {
                    return Err(format!("default {d} out of range"));
                }
                v.to_string()
            }
            None => "0".into(),
        },
        Ty::F64 => match d {
            Some(d) => {
                let v: f64 = d
                    .parse()
                    .map_err(|e| format!("bad float default {d}: {e}"))?;
                format!("{v:?}")
            }
            None => "0.0".into(),
        },
        Ty::Uuid => match d {
            Some(d) => {
                let b = base64_16(d)?;
                if b == [0; 16] {
                    "Uuid::NIL".into()
                } else {
                    format!("Uuid::from_bytes({b:?})")
                }
            }
            None => "Uuid::NIL".into(),
        },
        Ty::String => match d {
            Some(d) if !d.is_empty() => format!("StrBytes::from_static(\"{}\")", escape(d)),
            _ => "StrBytes::new()".into(),
        },
        Ty::Bytes | Ty::Records => "Bytes::new()".into(),
        Ty::Array(_) => "Vec::new()".into(),
        Ty::Struct(s) => format!("{s}::default()"),
    })
}

pub(crate) fn default_expr(f: &Field) -> Result<String, String> {
    let d = f.default.as_deref();
    if f.nullable.is_some() {
        if d == Some("null") {
            Ok("None".into())
        } else {
            Ok(format!("Some({})", nonnull_default(&f.ty, d)?))
        }
    } else {
        nonnull_default(&f.ty, d)
    }
}

/// Expression true when `a` (a place) holds something other than the default.
fn not_default(f: &Field, a: &str) -> Result<String, String> {
    let d = is_default(f, a)?;
    Ok(if let Some(rest) = d.strip_suffix(".is_none()") {
        format!("{rest}.is_some()")
    } else if d.ends_with(".is_empty()") {
        format!("!{d}")
    } else if let Some((l, r)) = d.split_once(" == ") {
        format!("{l} != {r}")
    } else if let Some(rest) = d.strip_prefix('!') {
        rest.to_string()
    } else {
        format!("!{d}")
    })
}

/// Expression true when `a` (a place) holds the field's default.
fn is_default(f: &Field, a: &str) -> Result<String, String> {
    let d = f.default.as_deref();
    if f.nullable.is_some() {
        return Ok(if d == Some("null") {
            format!("{a}.is_none()")
        } else {
            format!("{a} == {}", default_expr(f)?)
        });
    }
    let dv = nonnull_default(&f.ty, d)?;
    Ok(match &f.ty {
        Ty::Bool => {
            if dv == "true" {
                a.to_string()
            } else {
                format!("!{a}")
            }
        }
        Ty::String if dv == "StrBytes::new()" => format!("{a}.is_empty()"),
        Ty::Bytes | Ty::Records | Ty::Array(_) => format!("{a}.is_empty()"),
        _ => format!("{a} == {dv}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_simplify_against_valid_versions() {
        let valid = Versions { min: 0, max: 12 };
        assert_eq!(
            Cond::of(Some(Versions { min: 0, max: OPEN }), valid),
            Cond::True
        );
        assert_eq!(Cond::of(None, valid), Cond::False);
        assert_eq!(
            Cond::of(Some(Versions { min: 13, max: OPEN }), valid),
            Cond::False
        );
        assert_eq!(
            Cond::of(Some(Versions { min: 4, max: OPEN }), valid),
            Cond::Expr("version >= 4".into())
        );
        assert_eq!(
            Cond::of(Some(Versions { min: 0, max: 3 }), valid),
            Cond::Expr("version <= 3".into())
        );
        assert_eq!(
            Cond::of(Some(Versions { min: 2, max: 2 }), valid),
            Cond::Expr("version == 2".into())
        );
        assert_eq!(
            Cond::of(Some(Versions { min: 2, max: 5 }), valid),
            Cond::Expr("(2..=5).contains(&version)".into())
        );
    }

    #[test]
    fn defaults_parse_every_spelling() {
        assert_eq!(
            nonnull_default(&Ty::I64, Some("0xcafcacafcacafca")).unwrap(),
            "914172222550880202"
        );
        assert_eq!(nonnull_default(&Ty::Bool, Some("False")).unwrap(), "false");
        assert_eq!(nonnull_default(&Ty::Bool, Some("true")).unwrap(), "true");
        assert_eq!(nonnull_default(&Ty::F64, Some("12.34")).unwrap(), "12.34");
        assert_eq!(
            nonnull_default(&Ty::I32, Some("-2147483648")).unwrap(),
            "-2147483648"
        );
        assert!(nonnull_default(&Ty::I8, Some("300")).is_err());
        assert_eq!(
            nonnull_default(&Ty::Uuid, Some("H3KKO4NTRPaCWtEmm3vW7A")).unwrap(),
            "Uuid::from_bytes([31, 114, 138, 59, 131, 83, 68, 246, 130, 90, 209, 38, 155, 123, 214, 236])"
        );
        assert_eq!(
            nonnull_default(&Ty::String, Some("null")).unwrap(),
            "StrBytes::new()"
        );
    }
}

#[cfg(test)]
mod emit_tests {
    use super::*;
    use crate::schema;

    fn emit(json: &str) -> String {
        let s = schema::parse("T.json", json).unwrap();
        let mut out = String::new();
        SchemaGen::new(&s).unwrap().emit(&mut out, "Top.").unwrap();
        out
    }

    const SCHEMA: &str = r#"{
      "name": "TRequest", "type": "request", "apiKey": 1, "validVersions": "0-5", "flexibleVersions": "4+",
      "fields": [
        { "name": "Gated", "type": "int32", "versions": "2+", "default": "-1" },
        { "name": "Window", "type": "int64", "versions": "1-3", "ignorable": true },
        { "name": "Name", "type": "string", "versions": "0+", "nullableVersions": "3+" },
        { "name": "Items", "type": "[]Item", "versions": "0+", "fields": [
          { "name": "Id", "type": "uuid", "versions": "0+" },
          { "name": "Note", "type": "string", "versions": "5+", "taggedVersions": "5+", "tag": 3 }
        ]},
        { "name": "Extra", "type": "int16", "versions": "4+", "taggedVersions": "4+", "tag": 0 }
      ]
    }"#;

    #[test]
    fn version_gates_and_defaults() {
        let out = emit(SCHEMA);
        // A non-ignorable field that appears later: written from v2, an error before if set.
        assert!(
            out.contains(
                "if version >= 2 {\nbuf.put_i32(self.gated);\n} else if self.gated != -1 {"
            )
        );
        // An ignorable field in a middle range: no error branch.
        assert!(out.contains("if (1..=3).contains(&version) {\nbuf.put_i64(self.window);\n}\n"));
        assert!(out.contains("gated: -1,"));
        // Decoding gives the default outside the field's versions.
        assert!(out.contains("let f_gated = if version >= 2 {\ndec::get_i32(buf).map_err(err(\"Gated\"))?\n} else {\n-1\n};"));
    }

    #[test]
    fn nullability_changes_with_version() {
        let out = emit(SCHEMA);
        assert!(out.contains("pub name: Option<StrBytes>,"));
        assert!(out.contains("if version >= 3 {\ndec::get_nullable_string(buf, flexible)"));
        assert!(out.contains("Some(dec::get_string(buf, flexible).map_err(err(\"Name\"))?)"));
        assert!(out.contains("EncodeErrorKind::NullNotAllowed"));
    }

    #[test]
    fn tagged_fields_and_nested_structs() {
        let out = emit(SCHEMA);
        assert!(out.contains("pub struct Item {"));
        assert!(out.contains("pub items: Vec<Item>,"));
        assert!(out.contains("Item::decode(buf, version)?"));
        // The array count is bounded by the element's minimum size (a 16-byte uuid).
        assert!(out.contains("dec::get_array_len(buf, flexible, 16)"));
        // Known tags: counted and written only when not default.
        assert!(out.contains(
            "if self.extra != 0 || self.tagged_fields_seen.contains(0) {\ncount += 1;\n}"
        ));
        assert!(out.contains("enc::put_tagged_field(buf, 0, |buf| {"));
        assert!(out.contains("0 => {\nlet declared = data.len();"));
        // Item.Note is tagged only from v5: the match arm is guarded.
        assert!(out.contains("3 if version >= 5 => {"));
        assert!(out.contains("_ => unknown_tagged_fields.push(RawTaggedField { tag, data }),"));
    }

    #[test]
    fn every_field_type_maps_to_a_rust_type() {
        let out = emit(
            r#"{ "name": "All", "type": "data", "validVersions": "0", "flexibleVersions": "none",
              "fields": [
                { "name": "A", "type": "bool", "versions": "0+" },
                { "name": "B", "type": "int8", "versions": "0+" },
                { "name": "C", "type": "uint16", "versions": "0+" },
                { "name": "D", "type": "uint32", "versions": "0+" },
                { "name": "E", "type": "float64", "versions": "0+" },
                { "name": "F", "type": "bytes", "versions": "0+", "nullableVersions": "0+" },
                { "name": "G", "type": "records", "versions": "0+", "nullableVersions": "0+" },
                { "name": "H", "type": "[]int64", "versions": "0+" },
                { "name": "I", "type": "[]string", "versions": "0+", "nullableVersions": "0+" }
              ] }"#,
        );
        for line in [
            "pub a: bool,",
            "pub b: i8,",
            "pub c: u16,",
            "pub d: u32,",
            "pub e: f64,",
            "pub f: Option<Bytes>,",
            "pub g: Option<Bytes>,",
            "pub h: Vec<i64>,",
            "pub i: Option<Vec<StrBytes>>,",
        ] {
            assert!(out.contains(line), "missing `{line}`");
        }
        // Not flexible in any version: no tagged-field section at all.
        assert!(!out.contains("put_uvarint"));
        assert!(out.contains("dec::get_array_len(buf, false, 8)"));
    }

    #[test]
    fn unknown_struct_is_an_error() {
        let s = schema::parse(
            "T.json",
            r#"{ "name": "X", "type": "data", "validVersions": "0", "flexibleVersions": "none",
                 "fields": [ { "name": "A", "type": "Missing", "versions": "0+" } ] }"#,
        )
        .unwrap();
        assert!(SchemaGen::new(&s).is_err());
    }
}
