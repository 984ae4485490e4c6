//! A minimal XML text writer: indented elements, escaped text and attributes.

/// Escape text for an element's content or an attribute value (`& < > " '`), and drop
/// characters XML 1.0 cannot carry at all (most C0 controls).
pub fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Builds an indented XML document.
pub(crate) struct XmlOut {
    out: String,
    open: Vec<&'static str>,
}

impl XmlOut {
    pub fn new() -> XmlOut {
        XmlOut {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
            open: Vec::new(),
        }
    }

    fn indent(&mut self) {
        for _ in 0..self.open.len() {
            self.out.push_str("  ");
        }
    }

    /// Open `<name attrs...>`.
    pub fn open(&mut self, name: &'static str, attrs: &[(&str, &str)]) -> &mut XmlOut {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            self.out.push_str(&format!(" {k}=\"{}\"", escape_xml(v)));
        }
        self.out.push_str(">\n");
        self.open.push(name);
        self
    }

    /// Close the innermost open element.
    pub fn close(&mut self) -> &mut XmlOut {
        if let Some(name) = self.open.pop() {
            self.indent();
            self.out.push_str(&format!("</{name}>\n"));
        }
        self
    }

    /// `<name attrs...>text</name>`.
    pub fn leaf_attrs(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) -> &mut XmlOut {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            self.out.push_str(&format!(" {k}=\"{}\"", escape_xml(v)));
        }
        self.out
            .push_str(&format!(">{}</{name}>\n", escape_xml(text)));
        self
    }

    /// `<name>text</name>`.
    pub fn leaf(&mut self, name: &str, text: &str) -> &mut XmlOut {
        self.leaf_attrs(name, &[], text)
    }

    /// The document, every element closed.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }
}

/// At most `max` characters of `text` (ISO `MaxNNText` fields).
pub(crate) fn max_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
