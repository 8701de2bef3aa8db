//! Typed query strings: each operation's query is one type deriving `Deserialize` (read here)
//! and `IntoParams` (documented from the same fields). Every fault is a `400 invalid_query`
//! whose detail the type words per parameter; the caller's text is never echoed.

use crate::error::ApiError;
use crate::routes::common::invalid_query;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use std::future::{Ready, ready};

/// A query type and the details of its faults.
pub trait QueryParams: DeserializeOwned {
    /// A parameter given twice keeps its last value (otherwise it is refused). List-typed
    /// parameters always repeat.
    const LAST_WINS: bool = false;

    /// The detail for the unknown parameter `name`: by default it names the parameter when it
    /// is a plain word (the query is the caller's text).
    fn unknown(name: &str) -> String {
        let plain = name.len() <= 40 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if plain {
            format!("unknown parameter `{name}`")
        } else {
            "unknown parameter".to_owned()
        }
    }

    /// The detail for a value of parameter `name` that is not what it must be.
    fn invalid(name: &str) -> String;
}

/// The extractor of a typed query. It never fails on its own, so that the caller's
/// authentication (an earlier argument) answers first: the handler takes the query with
/// [`Query::into_inner`] and `?`.
pub struct Query<T>(Result<T, ApiError>);

impl<T: QueryParams> Query<T> {
    /// The query, or the `400 invalid_query` it deserves.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }

    /// Reads `query` (the part of a URL after `?`).
    pub fn parse(query: &str) -> Result<T, ApiError> {
        let known = field_names::<T>();
        let mut params: Vec<(String, Vec<String>)> = Vec::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if !known.contains(&name.as_ref()) {
                return Err(invalid_query(T::unknown(&name)));
            }
            match params.iter_mut().find(|(seen, _)| *seen == name) {
                Some((_, values)) => values.push(value.into_owned()),
                None => params.push((name.into_owned(), vec![value.into_owned()])),
            }
        }
        T::deserialize(Params {
            params: params.into_iter(),
            value: None,
            last_wins: T::LAST_WINS,
        })
        .map_err(|fault| {
            invalid_query(match fault {
                Fault::Repeated(name) => format!("`{name}` may appear only once"),
                Fault::Invalid(name) => T::invalid(&name),
                Fault::Other(detail) => detail,
            })
        })
    }
}

impl<T: QueryParams> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(Query(Self::parse(req.query_string()))))
    }
}

/// What went wrong while reading a query.
#[derive(Debug)]
enum Fault {
    Repeated(String),
    Invalid(String),
    Other(String),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Repeated(name) | Fault::Invalid(name) => write!(f, "parameter `{name}`"),
            Fault::Other(detail) => f.write_str(detail),
        }
    }
}

impl std::error::Error for Fault {}

impl de::Error for Fault {
    fn custom<M: std::fmt::Display>(msg: M) -> Self {
        Fault::Other(msg.to_string())
    }
}

/// The names `T` reads (its serde field names): the deserializer of a struct is told them.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Names<'a>(&'a mut &'static [&'static str]);
    impl<'de> de::Deserializer<'de> for Names<'_> {
        type Error = Fault;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Fault> {
            Err(Fault::Other(String::new()))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Fault> {
            *self.0 = fields;
            Err(Fault::Other(String::new()))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut names: &'static [&'static str] = &[];
    let _ = T::deserialize(Names(&mut names));
    names
}

/// The parameters as a map of name to values.
struct Params {
    params: std::vec::IntoIter<(String, Vec<String>)>,
    value: Option<(String, Vec<String>)>,
    last_wins: bool,
}

impl<'de> de::Deserializer<'de> for Params {
    type Error = Fault;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Fault> {
        visitor.visit_map(self)
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de> de::MapAccess<'de> for Params {
    type Error = Fault;
    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Fault> {
        let Some((name, values)) = self.params.next() else {
            return Ok(None);
        };
        let key = seed.deserialize(name.as_str().into_deserializer())?;
        self.value = Some((name, values));
        Ok(Some(key))
    }
    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Fault> {
        let (name, values) = self.value.take().ok_or(Fault::Other(String::new()))?;
        seed.deserialize(Values {
            name,
            values,
            last_wins: self.last_wins,
        })
    }
}

/// The values of one parameter: a list takes them all, anything else one.
struct Values {
    name: String,
    values: Vec<String>,
    last_wins: bool,
}

impl Values {
    fn one(self) -> Result<Value, Fault> {
        if self.values.len() > 1 && !self.last_wins {
            return Err(Fault::Repeated(self.name));
        }
        let text = self.values.into_iter().last().unwrap_or_default();
        Ok(Value {
            name: self.name,
            text,
        })
    }
}

macro_rules! one_value {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Fault> {
            self.one()?.$method(visitor)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Values {
    type Error = Fault;
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Fault> {
        visitor.visit_some(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Fault> {
        let name = self.name;
        let values = self.values.into_iter().map(|text| Value {
            name: name.clone(),
            text,
        });
        visitor.visit_seq(de::value::SeqDeserializer::new(values))
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        enum_name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Fault> {
        self.one()?.deserialize_enum(enum_name, variants, visitor)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Fault> {
        visitor.visit_newtype_struct(self)
    }
    one_value! {
        deserialize_any deserialize_bool deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_str deserialize_string deserialize_identifier
    }
    serde::forward_to_deserialize_any! {
        i128 u128 f32 f64 char bytes byte_buf unit unit_struct tuple tuple_struct map struct
        ignored_any
    }
}

/// One value of parameter `name`.
struct Value {
    name: String,
    text: String,
}

impl<'de> IntoDeserializer<'de, Fault> for Value {
    type Deserializer = Value;
    fn into_deserializer(self) -> Value {
        self
    }
}

impl Value {
    fn invalid(&self) -> Fault {
        Fault::Invalid(self.name.clone())
    }

    fn number<N: std::str::FromStr>(&self) -> Result<N, Fault> {
        self.text.parse().map_err(|_| self.invalid())
    }
}

macro_rules! number {
    ($($method:ident => $visit:ident),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Fault> {
            visitor.$visit(self.number()?)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Value {
    type Error = Fault;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Fault> {
        visitor.visit_string(self.text)
    }
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Fault> {
        match self.text.as_str() {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            _ => Err(self.invalid()),
        }
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        enum_name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Fault> {
        let invalid = self.invalid();
        let text: de::value::StringDeserializer<Fault> = self.text.into_deserializer();
        de::Deserializer::deserialize_enum(text, enum_name, variants, visitor).map_err(|_| invalid)
    }
    number! {
        deserialize_u8 => visit_u8, deserialize_u16 => visit_u16, deserialize_u32 => visit_u32,
        deserialize_u64 => visit_u64, deserialize_i8 => visit_i8, deserialize_i16 => visit_i16,
        deserialize_i32 => visit_i32, deserialize_i64 => visit_i64,
    }
    serde::forward_to_deserialize_any! {
        i128 u128 f32 f64 char str string bytes byte_buf option unit unit_struct newtype_struct
        seq tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Sample {
        page_size: Option<u32>,
        #[serde(default)]
        tag: Vec<String>,
        on: Option<bool>,
    }

    impl QueryParams for Sample {
        fn invalid(name: &str) -> String {
            format!("{name} is wrong")
        }
    }

    fn detail(query: &str) -> String {
        Query::<Sample>::parse(query)
            .unwrap_err()
            .detail()
            .to_owned()
    }

    #[test]
    fn reads_typed_values_and_lists() {
        let sample = Query::<Sample>::parse("pageSize=5&tag=a&tag=b&on=true").unwrap();
        assert_eq!(sample.page_size, Some(5));
        assert_eq!(sample.tag, ["a", "b"]);
        assert_eq!(sample.on, Some(true));
        let empty = Query::<Sample>::parse("").unwrap();
        assert_eq!(
            (empty.page_size, empty.tag.len(), empty.on),
            (None, 0, None)
        );
    }

    #[test]
    fn words_each_fault_without_echoing_values() {
        assert_eq!(detail("pageSize=ten"), "pageSize is wrong");
        assert_eq!(detail("pageSize=-1"), "pageSize is wrong");
        assert_eq!(detail("on=yes"), "on is wrong");
        assert_eq!(
            detail("pageSize=1&pageSize=2"),
            "`pageSize` may appear only once"
        );
        assert_eq!(detail("a%40b.c=1"), "unknown parameter");
        assert_eq!(detail("email=x"), "unknown parameter `email`");
    }
}
