//! The route-table type every routes module adds its routes to: it records each method and
//! path template as it adds them to the router, so what the router serves is known exactly
//! (`crate::router::served_routes`) and the OpenAPI document is tested against it.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::MethodFilter;

use crate::kit::state::AppState;

/// The router under construction, and the routes it serves (as the document names them).
#[derive(Default)]
pub(crate) struct Routes {
    pub(crate) router: Router<AppState>,
    pub(crate) served: Vec<(Method, &'static str)>,
}

impl Routes {
    /// Serves `method` on `path` with `handler` (several methods on one path merge).
    pub(crate) fn on<H, T>(self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.on_documented(method, path, path, handler)
    }

    /// Serves `method` on the router's template `path` with `handler`, recorded as
    /// `documented`: for a route whose parameter axum can only take as a wildcard at the end
    /// (`/files/{*rest}`) while the document names it where it stands
    /// (`/files/{path}/history`); the handler checks what follows the parameter.
    pub(crate) fn on_documented<H, T>(
        mut self,
        method: Method,
        path: &'static str,
        documented: &'static str,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone())
            .expect("routes are registered with the standard methods only");
        self.router = self.router.route(path, axum::routing::on(filter, handler));
        self.served.push((method, documented));
        self
    }
}
