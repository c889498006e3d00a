//! How the domain's text newtypes (ids, barcodes, amounts, timestamps) appear in the OpenAPI
//! document: each is a JSON string with the pattern or format its `parse` enforces, so that
//! clients (and the schemathesis run in `make test`) know what a valid value looks like.

/// Implements `utoipa::ToSchema` for a type serialized as a string.
macro_rules! text_schema {
    ($ty:ty, $name:literal, $desc:literal $(, pattern = $pattern:literal)? $(, format = $format:ident)? $(,)?) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::Type::String)
                    .description(Some($desc))
                    $(.pattern(Some($pattern)))?
                    $(.format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::$format,
                    ))))?
                    .into()
            }
        }

        impl utoipa::ToSchema for $ty {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($name)
            }
        }
    };
}
