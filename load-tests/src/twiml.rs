//! TwiML as callsim reads it: a small, strict XML reader (elements,
//! attributes in either quote, text, CDATA, comments, the prolog, the five
//! predefined entities and character references), then the verbs a
//! call-routing answer uses.
//!
//! Anything callsim cannot follow the way Twilio would is an error, so a
//! server that answers with broken or unexpected TwiML fails the run.

use std::fmt;

/// An XML element: name, attributes (entities decoded), children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Tag name.
    pub name: String,
    /// Attributes in document order.
    pub attrs: Vec<(String, String)>,
    /// Child nodes.
    pub children: Vec<Node>,
}

/// A child of an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A nested element.
    Element(Element),
    /// Character data, entities decoded.
    Text(String),
}

impl Element {
    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// All character data directly inside, concatenated.
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(t.as_str()),
                Node::Element(_) => None,
            })
            .collect()
    }

    fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }
}

/// Why a document is not usable TwiML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwimlError(pub String);

impl fmt::Display for TwimlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TwimlError {}

fn err<T>(msg: impl Into<String>) -> Result<T, TwimlError> {
    Err(TwimlError(msg.into()))
}

/// Parses an XML document into its root element.
pub fn parse_xml(doc: &str) -> Result<Element, TwimlError> {
    let mut p = Parser {
        s: doc.strip_prefix('\u{feff}').unwrap_or(doc),
        i: 0,
    };
    p.misc()?;
    if !p.rest().starts_with('<') {
        return err("no root element");
    }
    let root = p.element()?;
    p.misc()?;
    if p.i != p.s.len() {
        return err(format!("content after the root element at byte {}", p.i));
    }
    Ok(root)
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }

    fn skip_ws(&mut self) {
        let r = self.rest();
        self.i += r.len() - r.trim_start_matches([' ', '\t', '\r', '\n']).len();
    }

    /// Skips to just after `end`.
    fn skip_past(&mut self, end: &str, what: &str) -> Result<&'a str, TwimlError> {
        match self.rest().find(end) {
            Some(k) => {
                let inner = &self.rest()[..k];
                self.i += k + end.len();
                Ok(inner)
            }
            None => err(format!("unterminated {what}")),
        }
    }

    /// Whitespace, comments, processing instructions and a doctype.
    fn misc(&mut self) -> Result<(), TwimlError> {
        loop {
            self.skip_ws();
            let r = self.rest();
            if r.starts_with("<?") {
                self.skip_past("?>", "processing instruction")?;
            } else if r.starts_with("<!--") {
                self.skip_past("-->", "comment")?;
            } else if r.starts_with("<!DOCTYPE") {
                // Internal subsets could define entities; TwiML never has one.
                if r[..r.find('>').unwrap_or(r.len())].contains('[') {
                    return err("doctype with an internal subset");
                }
                self.skip_past(">", "doctype")?;
            } else {
                return Ok(());
            }
        }
    }

    fn name(&mut self) -> Result<&'a str, TwimlError> {
        let r = self.rest();
        let len = r
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
            .unwrap_or(r.len());
        if len == 0 || r.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.') {
            return err(format!("expected a name at byte {}", self.i));
        }
        self.i += len;
        Ok(&r[..len])
    }

    fn element(&mut self) -> Result<Element, TwimlError> {
        self.i += 1; // '<'
        let name = self.name()?.to_owned();
        let mut attrs: Vec<(String, String)> = Vec::new();
        loop {
            let before = self.i;
            self.skip_ws();
            let r = self.rest();
            if r.starts_with("/>") {
                self.i += 2;
                return Ok(Element {
                    name,
                    attrs,
                    children: Vec::new(),
                });
            }
            if r.starts_with('>') {
                self.i += 1;
                break;
            }
            if self.i == before {
                return err(format!(
                    "expected whitespace before an attribute of <{name}> at byte {}",
                    self.i
                ));
            }
            let key = self.name()?.to_owned();
            self.skip_ws();
            if !self.rest().starts_with('=') {
                return err(format!("attribute {key} of <{name}> has no value"));
            }
            self.i += 1;
            self.skip_ws();
            let quote = match self.rest().chars().next() {
                Some(q @ ('"' | '\'')) => q,
                _ => return err(format!("attribute {key} of <{name}> is not quoted")),
            };
            self.i += 1;
            let raw = self.skip_past(if quote == '"' { "\"" } else { "'" }, "attribute value")?;
            if raw.contains('<') {
                return err(format!("'<' in attribute {key} of <{name}>"));
            }
            if attrs.iter().any(|(k, _)| *k == key) {
                return err(format!("duplicate attribute {key} on <{name}>"));
            }
            attrs.push((key, decode(raw)?));
        }
        let mut children = Vec::new();
        loop {
            let r = self.rest();
            if r.is_empty() {
                return err(format!("<{name}> is not closed"));
            }
            if r.starts_with("</") {
                self.i += 2;
                let end = self.name()?;
                if end != name {
                    return err(format!("</{end}> closes <{name}>"));
                }
                self.skip_ws();
                if !self.rest().starts_with('>') {
                    return err(format!("malformed </{name}>"));
                }
                self.i += 1;
                return Ok(Element {
                    name,
                    attrs,
                    children,
                });
            } else if r.starts_with("<!--") {
                self.skip_past("-->", "comment")?;
            } else if r.starts_with("<![CDATA[") {
                self.i += "<![CDATA[".len();
                let text = self.skip_past("]]>", "CDATA section")?;
                push_text(&mut children, text.to_owned());
            } else if r.starts_with("<?") {
                self.skip_past("?>", "processing instruction")?;
            } else if r.starts_with('<') {
                children.push(Node::Element(self.element()?));
            } else {
                let len = r.find('<').unwrap_or(r.len());
                let text = decode(&r[..len])?;
                self.i += len;
                push_text(&mut children, text);
            }
        }
    }
}

fn push_text(children: &mut Vec<Node>, text: String) {
    if let Some(Node::Text(t)) = children.last_mut() {
        t.push_str(&text);
    } else {
        children.push(Node::Text(text));
    }
}

/// Decodes the predefined entities and character references.
pub fn decode(raw: &str) -> Result<String, TwimlError> {
    if !raw.contains('&') {
        return Ok(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(k) = rest.find('&') {
        out.push_str(&rest[..k]);
        rest = &rest[k + 1..];
        let Some(end) = rest.find(';') else {
            return err("unterminated entity");
        };
        let ent = &rest[..end];
        rest = &rest[end + 1..];
        let c = match ent {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code =
                    if let Some(hex) = ent.strip_prefix("#x").or_else(|| ent.strip_prefix("#X")) {
                        u32::from_str_radix(hex, 16).ok()
                    } else if let Some(dec) = ent.strip_prefix('#') {
                        dec.parse().ok()
                    } else {
                        return err(format!("unknown entity &{ent};"));
                    };
                match code.and_then(char::from_u32) {
                    Some(c) => c,
                    None => return err(format!("invalid character reference &{ent};")),
                }
            }
        };
        out.push(c);
    }
    out.push_str(rest);
    Ok(out)
}

/// A `<Number>` noun of a `<Dial>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialNumber {
    /// The E.164 number dialed.
    pub number: String,
    /// `statusCallback`: where the leg's progress is posted.
    pub status_callback: Option<String>,
    /// `statusCallbackEvent`, split on spaces (Twilio's default: `completed`).
    pub events: Vec<String>,
}

/// A `<Dial>` verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    /// `action`: where the dial outcome is posted, verbatim.
    pub action: String,
    /// `timeout`, seconds.
    pub timeout: Option<u32>,
    /// `timeLimit`, seconds.
    pub time_limit: Option<u32>,
    /// `callerId`.
    pub caller_id: Option<String>,
    /// `record`.
    pub record: Option<String>,
    /// The numbers rung at once (Switchboard rings one).
    pub numbers: Vec<DialNumber>,
}

/// What a TwiML answer tells the carrier to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Twiml {
    /// Connect the caller.
    Dial(Dial),
    /// Say something (maybe) and end the call.
    End {
        /// What `<Say>` said, joined by spaces.
        said: Option<String>,
        /// Whether it ended with `<Hangup/>` or `<Reject/>` (rather than running out of verbs).
        explicit: bool,
    },
}

/// Whether `s` is an E.164 number: `+` then 8 to 15 digits, not starting with 0.
pub fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

fn seconds(d: &Element, name: &str) -> Result<Option<u32>, TwimlError> {
    d.attr(name)
        .map(|v| {
            v.trim().parse::<u32>().map_err(|_| {
                TwimlError(format!("<Dial {name}=\"{v}\"> is not a number of seconds"))
            })
        })
        .transpose()
}

fn dial(d: &Element) -> Result<Dial, TwimlError> {
    let Some(action) = d.attr("action").map(str::trim).filter(|a| !a.is_empty()) else {
        return err("<Dial> without an action URL");
    };
    if !(action.starts_with("http://") || action.starts_with("https://")) {
        return err(format!(
            "<Dial action=\"{action}\"> is not an absolute http(s) URL"
        ));
    }
    if let Some(m) = d.attr("method")
        && !m.eq_ignore_ascii_case("POST")
    {
        return err(format!("<Dial method=\"{m}\">: callsim only follows POST"));
    }
    let mut numbers = Vec::new();
    for n in d.elements() {
        match n.name.as_str() {
            "Number" => {
                let number = n.text().trim().to_owned();
                if !is_e164(&number) {
                    return err(format!("<Number>{number}</Number> is not an E.164 number"));
                }
                let events = n.attr("statusCallbackEvent").map_or_else(
                    || vec!["completed".to_owned()],
                    |e| e.split_whitespace().map(str::to_owned).collect(),
                );
                if let Some(m) = n.attr("statusCallbackMethod")
                    && !m.eq_ignore_ascii_case("POST")
                {
                    return err(format!(
                        "<Number statusCallbackMethod=\"{m}\">: callsim only follows POST"
                    ));
                }
                numbers.push(DialNumber {
                    number,
                    status_callback: n.attr("statusCallback").map(str::to_owned),
                    events,
                });
            }
            other => return err(format!("<Dial> noun <{other}> is not supported by callsim")),
        }
    }
    let bare = d.text();
    let bare = bare.trim();
    if !bare.is_empty() {
        if !numbers.is_empty() {
            return err("<Dial> mixes text and nouns");
        }
        if !is_e164(bare) {
            return err(format!("<Dial>{bare}</Dial> is not an E.164 number"));
        }
        numbers.push(DialNumber {
            number: bare.to_owned(),
            status_callback: None,
            events: vec!["completed".to_owned()],
        });
    }
    if numbers.is_empty() {
        return err("<Dial> with nothing to dial");
    }
    Ok(Dial {
        action: action.to_owned(),
        timeout: seconds(d, "timeout")?,
        time_limit: seconds(d, "timeLimit")?,
        caller_id: d.attr("callerId").map(str::to_owned),
        record: d.attr("record").map(str::to_owned),
        numbers,
    })
}

/// Parses a TwiML answer of a call-routing webhook: `<Response>` holding a
/// `<Dial>` (verbs after a `<Dial action>` never run), or `<Say>`/`<Pause>`
/// ending in `<Hangup/>`/`<Reject/>` or in the end of the document.
pub fn parse(doc: &str) -> Result<Twiml, TwimlError> {
    let root = parse_xml(doc)?;
    if root.name != "Response" {
        return err(format!("root element is <{}>, not <Response>", root.name));
    }
    if !root.text().trim().is_empty() {
        return err("text directly inside <Response>");
    }
    let mut said: Vec<String> = Vec::new();
    let mut verbs = 0;
    for verb in root.elements() {
        verbs += 1;
        match verb.name.as_str() {
            "Dial" => return Ok(Twiml::Dial(dial(verb)?)),
            "Say" => {
                let t = verb.text();
                let t = t.trim();
                if t.is_empty() {
                    return err("empty <Say>");
                }
                said.push(t.to_owned());
            }
            "Pause" | "Play" => {}
            "Hangup" | "Reject" => {
                return Ok(Twiml::End {
                    said: (!said.is_empty()).then(|| said.join(" ")),
                    explicit: true,
                });
            }
            other => return err(format!("verb <{other}> is not supported by callsim")),
        }
    }
    if verbs == 0 {
        return err("empty <Response>");
    }
    Ok(Twiml::End {
        said: (!said.is_empty()).then(|| said.join(" ")),
        explicit: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIAL: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial timeout="30" timeLimit="14400" callerId="+15551230000" record="do-not-record" action="http://127.0.0.1:8080/api/webhooks/dial-status/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b?attempt=0" method="POST"><Number statusCallback="http://127.0.0.1:8080/api/webhooks/status?callId=0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b&amp;attempt=0" statusCallbackEvent="initiated ringing answered completed" statusCallbackMethod="POST">+15550002001</Number></Dial></Response>"#;

    #[test]
    fn switchboard_dial() {
        let Twiml::Dial(d) = parse(DIAL).unwrap() else {
            panic!("not a dial")
        };
        assert_eq!(
            d.action,
            "http://127.0.0.1:8080/api/webhooks/dial-status/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b?attempt=0"
        );
        assert_eq!(d.timeout, Some(30));
        assert_eq!(d.time_limit, Some(14400));
        assert_eq!(d.caller_id.as_deref(), Some("+15551230000"));
        assert_eq!(d.numbers.len(), 1);
        let n = &d.numbers[0];
        assert_eq!(n.number, "+15550002001");
        // The entity in the callback URL is decoded: this is the URL Twilio requests and signs.
        assert_eq!(
            n.status_callback.as_deref(),
            Some(
                "http://127.0.0.1:8080/api/webhooks/status?callId=0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b&attempt=0"
            )
        );
        assert_eq!(n.events, ["initiated", "ringing", "answered", "completed"]);
    }

    #[test]
    fn rejection_and_not_in_service() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>We&apos;re sorry &amp; &#x41;&#66;</Say><Hangup/></Response>"#;
        assert_eq!(
            parse(doc).unwrap(),
            Twiml::End {
                said: Some("We're sorry & AB".into()),
                explicit: true
            }
        );
        assert_eq!(
            parse("<Response><Hangup/></Response>").unwrap(),
            Twiml::End {
                said: None,
                explicit: true
            }
        );
        assert_eq!(
            parse("<Response><Say>bye</Say></Response>").unwrap(),
            Twiml::End {
                said: Some("bye".into()),
                explicit: false
            }
        );
        assert_eq!(
            parse("<Response><Reject /></Response>").unwrap(),
            Twiml::End {
                said: None,
                explicit: true
            }
        );
    }

    #[test]
    fn lenient_where_xml_is() {
        let doc = "\u{feff}<?xml version='1.0'?>\n<!-- routed -->\n<Response>\n  <Dial action = 'https://h/a?x=1&amp;y=2'>\n    <![CDATA[+15550002002]]>\n  </Dial>\n</Response>\n";
        let Twiml::Dial(d) = parse(doc).unwrap() else {
            panic!()
        };
        assert_eq!(d.action, "https://h/a?x=1&y=2");
        assert_eq!(d.numbers[0].number, "+15550002002");
        assert_eq!(d.numbers[0].events, ["completed"]);
    }

    #[test]
    fn broken_documents_are_errors() {
        for bad in [
            "",
            "ok",
            "<Response>",
            "<Response></Respons>",
            "<Response><Say>a</Say></Response><x/>",
            r#"<Response><Dial action="http://h/a" action="http://h/b"><Number>+15550002001</Number></Dial></Response>"#,
            r#"<Response><Dial action=http://h/a><Number>+15550002001</Number></Dial></Response>"#,
            r#"<Response><Say>a &nbsp; b</Say></Response>"#,
            r#"<Response><Say>a &amp b</Say></Response>"#,
            "<Response/>",
            "<Foo><Hangup/></Foo>",
            "<Response>hello</Response>",
            "<Response><Redirect>http://h/x</Redirect></Response>",
            r#"<Response><Dial><Number>+15550002001</Number></Dial></Response>"#,
            r#"<Response><Dial action="/relative"><Number>+15550002001</Number></Dial></Response>"#,
            r#"<Response><Dial action="http://h/a"><Number>5550002001</Number></Dial></Response>"#,
            r#"<Response><Dial action="http://h/a"></Dial></Response>"#,
            r#"<Response><Dial action="http://h/a" timeout="soon"><Number>+15550002001</Number></Dial></Response>"#,
            r#"<Response><Dial action="http://h/a"><Client>alice</Client></Dial></Response>"#,
            r#"<!DOCTYPE r [<!ENTITY x "y">]><Response><Hangup/></Response>"#,
        ] {
            assert!(parse(bad).is_err(), "accepted: {bad:?}");
        }
    }

    #[test]
    fn e164() {
        assert!(is_e164("+15550002001"));
        assert!(!is_e164("15550002001"));
        assert!(!is_e164("+1555"));
        assert!(!is_e164("+0555000200"));
        assert!(!is_e164("+1555000200a"));
    }
}
