//! Request bodies and parameters read into problems instead of axum's plain-text rejections.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ProblemCode};

/// A JSON body.
pub struct JsonBody<T>(pub T);

/// A JSON body that may be left out (read as `T::default()`).
pub struct OptionalJsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match read_json(req, state, false).await? {
            Some(value) => Ok(JsonBody(value)),
            None => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ProblemCode::InvalidJson,
                "the request has no body",
            )
            .with_hint("send a JSON object with `Content-Type: application/json`")),
        }
    }
}

impl<S, T> FromRequest<S> for OptionalJsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(OptionalJsonBody(
            read_json(req, state, true).await?.unwrap_or_default(),
        ))
    }
}

/// The body as `T`; `None` when it is empty, or JSON `null` and `null_is_absent`.
async fn read_json<S, T>(
    req: Request,
    state: &S,
    null_is_absent: bool,
) -> Result<Option<T>, ApiError>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            let essence = value.split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case("application/json")
                || essence.to_ascii_lowercase().ends_with("+json")
        });
    let bytes = axum::body::Bytes::from_request(req, state)
        .await
        .map_err(body_rejection)?;
    if bytes.is_empty() {
        return Ok(None);
    }
    if is_json != Some(true) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemCode::UnsupportedMediaType,
            "the request body is not declared as JSON",
        )
        .with_hint("set `Content-Type: application/json`"));
    }
    let not_taken = |status: StatusCode, detail: String| {
        ApiError::new(
            status,
            ProblemCode::InvalidJson,
            format!("the request body is not what this route takes: {detail}"),
        )
        .with_hint("GET /openapi.json describes every route's body")
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|err| not_taken(StatusCode::BAD_REQUEST, err.to_string()))?;
    if value.is_null() && null_is_absent {
        return Ok(None);
    }
    // Serde reads a struct from an array of its fields too (`[null, null]`); every body of
    // this API is an object.
    if !value.is_object() {
        return Err(not_taken(
            StatusCode::UNPROCESSABLE_ENTITY,
            "it must be a JSON object".to_owned(),
        ));
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|err| not_taken(StatusCode::UNPROCESSABLE_ENTITY, err.to_string()))
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ProblemCode::PayloadTooLarge,
            format!("the request body is too large: {}", rejection.body_text()),
        )
        .with_hint(format!(
            "keep bodies under {} KiB",
            crate::BODY_LIMIT_BYTES / 1024
        ))
    } else {
        ApiError::bad_request(format!(
            "the request body could not be read: {}",
            rejection.body_text()
        ))
    }
}

/// Query parameters, read into a problem when they do not fit.
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|query| QueryParams(query.0))
            .map_err(|rejection: QueryRejection| {
                ApiError::bad_request(format!("bad query parameters: {}", rejection.body_text()))
                    .with_hint("GET /openapi.json describes every route's parameters")
            })
    }
}

/// Path parameters, read into a problem when they do not fit.
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|path| PathParams(path.0))
            .map_err(|rejection: PathRejection| {
                ApiError::bad_request(format!("bad path parameters: {}", rejection.body_text()))
            })
    }
}
