//! [`ClientIp`]: the network address a request came from, for limits per caller.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;

use crate::services::accounts::ClientAddress;

/// The caller's address: API Gateway's `sourceIp` in Lambda (the peer it saw; headers such as
/// `X-Forwarded-For` are the client's to write, so they are not read), the socket's peer
/// locally. Unknown when neither is there (a router called in-process).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub ClientAddress);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(ClientIp(ClientAddress(address(parts))))
    }
}

fn address(parts: &Parts) -> Option<IpAddr> {
    use lambda_http::request::RequestContext;
    if let Some(RequestContext::ApiGatewayV2(ctx)) = parts.extensions.get::<RequestContext>() {
        return ctx.http.source_ip.as_deref()?.parse().ok();
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_address_comes_from_api_gateway_or_the_socket_never_a_header() {
        let (mut parts, _) = http::Request::builder()
            .header("x-forwarded-for", "10.9.9.9")
            .body(())
            .unwrap()
            .into_parts();
        let ClientIp(a) = ClientIp::from_request_parts(&mut parts, &()).await.unwrap();
        assert_eq!(a.0, None);

        parts
            .extensions
            .insert(ConnectInfo::<SocketAddr>("127.0.0.2:5000".parse().unwrap()));
        let ClientIp(a) = ClientIp::from_request_parts(&mut parts, &()).await.unwrap();
        assert_eq!(a.0, Some("127.0.0.2".parse().unwrap()));

        let mut ctx =
            lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
        ctx.http.source_ip = Some("203.0.113.7".into());
        parts
            .extensions
            .insert(lambda_http::request::RequestContext::ApiGatewayV2(ctx));
        let ClientIp(a) = ClientIp::from_request_parts(&mut parts, &()).await.unwrap();
        assert_eq!(a.0, Some("203.0.113.7".parse().unwrap()));
    }
}
