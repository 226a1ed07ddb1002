//! COMMAND DOCS argument trees, built from each command's documented syntax string
//! (`key value [NX | XX] [EX seconds | PX milliseconds]`). redis-cli draws its hints from them.

use bytes::Bytes;
use flotilla_protocol::Reply;

#[derive(Debug, Clone, PartialEq)]
struct Argument {
    name: String,
    kind: &'static str,
    token: Option<String>,
    optional: bool,
    multiple: bool,
    children: Vec<Argument>,
}

/// The `arguments` array of COMMAND DOCS for a syntax string.
pub fn arguments(syntax: &str) -> Reply {
    let tokens = tokenize(syntax);
    let mut position = 0;
    let arguments = parse_sequence(&tokens, &mut position);
    Reply::Array(arguments.iter().map(render).collect())
}

fn tokenize(syntax: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    for c in syntax.chars() {
        match c {
            '[' | ']' | '<' | '>' | '|' => {
                if !word.is_empty() {
                    tokens.push(std::mem::take(&mut word));
                }
                tokens.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    tokens.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

fn parse_sequence(tokens: &[String], position: &mut usize) -> Vec<Argument> {
    let mut items: Vec<Argument> = Vec::new();
    while *position < tokens.len() {
        let token = tokens[*position].as_str();
        match token {
            "]" | ">" | "|" => break,
            "..." => {
                if let Some(last) = items.last_mut() {
                    last.multiple = true;
                }
                *position += 1;
            }
            "[" | "<" => {
                *position += 1;
                let mut group = parse_alternatives(tokens, position);
                *position += 1; // closing bracket
                group.optional = token == "[";
                items.push(group);
            }
            word => {
                *position += 1;
                let is_token = word.chars().any(|c| c.is_ascii_uppercase())
                    && !word.chars().any(|c| c.is_ascii_lowercase());
                if is_token {
                    items.push(Argument {
                        name: word.to_ascii_lowercase(),
                        kind: "pure-token",
                        token: Some(word.to_string()),
                        optional: false,
                        multiple: false,
                        children: Vec::new(),
                    });
                } else {
                    let argument = Argument {
                        name: word.to_string(),
                        kind: kind_of(word),
                        token: None,
                        optional: false,
                        multiple: false,
                        children: Vec::new(),
                    };
                    // `EX seconds`: the token belongs to the argument that follows it.
                    match items.last_mut() {
                        Some(last) if last.kind == "pure-token" && last.children.is_empty() => {
                            let token = last.token.take();
                            *last = Argument { token, ..argument };
                        }
                        _ => items.push(argument),
                    }
                }
            }
        }
    }
    items
}

/// Parses `a | b c | d` up to the closing bracket into one argument.
fn parse_alternatives(tokens: &[String], position: &mut usize) -> Argument {
    let mut alternatives = vec![block(parse_sequence(tokens, position))];
    while tokens.get(*position).map(String::as_str) == Some("|") {
        *position += 1;
        alternatives.push(block(parse_sequence(tokens, position)));
    }
    if alternatives.len() == 1 {
        return alternatives.pop().expect("one alternative");
    }
    let name = alternatives
        .iter()
        .map(|a| a.name.clone())
        .collect::<Vec<_>>()
        .join("-");
    Argument {
        name,
        kind: "oneof",
        token: None,
        optional: false,
        multiple: false,
        children: alternatives,
    }
}

fn block(mut items: Vec<Argument>) -> Argument {
    if items.len() == 1 {
        return items.pop().expect("one item");
    }
    let name = items.first().map(|a| a.name.clone()).unwrap_or_default();
    Argument {
        name,
        kind: "block",
        token: None,
        optional: false,
        multiple: false,
        children: items,
    }
}

fn kind_of(name: &str) -> &'static str {
    match name {
        "key" | "destination" | "source" | "newkey" => "key",
        "count"
        | "seconds"
        | "milliseconds"
        | "index"
        | "start"
        | "end"
        | "offset"
        | "numkeys"
        | "timeout"
        | "increment"
        | "decrement"
        | "db"
        | "cursor"
        | "limit"
        | "rank"
        | "len"
        | "bit"
        | "client-id"
        | "numreplicas"
        | "protover"
        | "stop" => "integer",
        "score" | "min" | "max" => "double",
        "unix-time-seconds" | "unix-time-milliseconds" => "unix-time",
        "pattern" => "pattern",
        _ => "string",
    }
}

fn render(argument: &Argument) -> Reply {
    let text = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    let mut fields = vec![
        (text("name"), text(&argument.name)),
        (text("type"), text(argument.kind)),
    ];
    if argument.kind == "key" {
        fields.push((text("key_spec_index"), Reply::Int(0)));
    }
    if let Some(token) = &argument.token {
        fields.push((text("token"), text(token)));
    }
    let mut flags = Vec::new();
    if argument.optional {
        flags.push(Reply::simple("optional"));
    }
    if argument.multiple {
        flags.push(Reply::simple("multiple"));
    }
    if !flags.is_empty() {
        fields.push((text("flags"), Reply::Set(flags)));
    }
    if !argument.children.is_empty() {
        fields.push((
            text("arguments"),
            Reply::Array(argument.children.iter().map(render).collect()),
        ));
    }
    Reply::Map(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_syntax_becomes_an_argument_tree() {
        let tokens = tokenize("key value [NX | XX] [EX seconds | PX milliseconds] [key ...]");
        let mut position = 0;
        let args = parse_sequence(&tokens, &mut position);
        assert_eq!(args.len(), 5);
        assert_eq!(args[0].kind, "key");
        assert_eq!(args[2].kind, "oneof");
        assert!(args[2].optional);
        assert_eq!(args[2].children[0].token.as_deref(), Some("NX"));
        assert_eq!(args[3].children[0].name, "seconds");
        assert_eq!(args[3].children[0].token.as_deref(), Some("EX"));
        assert_eq!(args[3].children[0].kind, "integer");
        assert!(args[4].optional);
        assert_eq!(args[4].name, "key");
        let tokens = tokenize("[EXAT unix-time-seconds]");
        let mut position = 0;
        assert_eq!(parse_sequence(&tokens, &mut position)[0].kind, "unix-time");
    }

    /// Checks one argument the way redis-cli reads it (it asserts on anything else): a map
    /// with string `name` and `type`, a known type, flags as a set of status replies, and
    /// `arguments` (an array) exactly for `oneof` and `block`.
    fn check_argument(command: &str, argument: &Reply) {
        let Reply::Map(fields) = argument else {
            panic!("{command}: argument is not a map: {argument:?}")
        };
        let field = |name: &str| {
            fields
                .iter()
                .find(|(key, _)| *key == Reply::Bulk(Bytes::copy_from_slice(name.as_bytes())))
                .map(|(_, value)| value)
        };
        let Some(Reply::Bulk(_)) = field("name") else {
            panic!("{command}: argument without a name: {argument:?}")
        };
        let Some(Reply::Bulk(kind)) = field("type") else {
            panic!("{command}: argument without a type: {argument:?}")
        };
        let kind = std::str::from_utf8(kind).expect("type is text");
        assert!(
            [
                "key", "string", "integer", "double", "pattern", "unix-time", "pure-token", "oneof", "block"
            ]
            .contains(&kind),
            "{command}: unknown argument type {kind}"
        );
        if kind == "pure-token" {
            assert!(field("token").is_some(), "{command}: pure-token without a token");
        }
        if let Some(flags) = field("flags") {
            let Reply::Set(flags) = flags else {
                panic!("{command}: flags are not a set")
            };
            assert!(flags.iter().all(|f| matches!(f, Reply::Simple(_))), "{command}: flags");
        }
        match (kind, field("arguments")) {
            ("oneof" | "block", Some(Reply::Array(children))) => {
                assert!(!children.is_empty(), "{command}: empty {kind}");
                for child in children {
                    check_argument(command, child);
                }
            }
            ("oneof" | "block", other) => panic!("{command}: {kind} without arguments: {other:?}"),
            (_, None) => {}
            (_, Some(_)) => panic!("{command}: a {kind} argument has sub-arguments"),
        }
    }

    /// Every command's documented syntax becomes an argument tree redis-cli can read.
    #[test]
    fn every_command_syntax_renders_for_redis_cli() {
        for spec in crate::commands::all() {
            let specs = std::iter::once(spec).chain(spec.subcommands.iter());
            for spec in specs {
                if spec.syntax.is_empty() {
                    continue;
                }
                let Reply::Array(arguments) = arguments(spec.syntax) else {
                    panic!("{}: arguments are not an array", spec.name)
                };
                assert!(!arguments.is_empty(), "{}: no arguments from {:?}", spec.name, spec.syntax);
                for argument in &arguments {
                    check_argument(spec.name, argument);
                }
            }
        }
    }
}
