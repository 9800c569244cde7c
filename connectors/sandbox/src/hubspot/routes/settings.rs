//! The portal settings a sync reads: deal pipelines with their stages
//! (`/crm/v3/pipelines/deals[/{id}[/stages[/{stageId}]]]`) and owners
//! (`/crm/v3/owners[/{ownerId}]`), and their date-versioned copies. Both are read-only
//! here; tests add pipelines and owners through the control API.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};

use super::{Params, Shared};
use crate::hubspot::Inner;
use crate::hubspot::errors;
use crate::hubspot::objects::{ApiVersion, ObjectType};
use crate::hubspot::wire::crm::{NoPaging, OwnerPage, Pipeline};
use crate::hubspot::wire::{NextPage, Paging};

/// Owners per page by default, and at most.
const OWNERS_PAGE: usize = 100;
const OWNERS_MAX: usize = 500;

/// Adds the pipelines and owners routes under `version`.
pub(super) fn routes(mut router: Router<Arc<Inner>>, version: ApiVersion) -> Router<Arc<Inner>> {
    let pipelines = version.base("pipelines");
    for alias in ObjectType::Deals.aliases() {
        let path = format!("{pipelines}/{alias}");
        router = router
            .route(&path, get(all_pipelines))
            .route(&format!("{path}/{{pipeline}}"), get(one_pipeline))
            .route(&format!("{path}/{{pipeline}}/stages"), get(stages))
            .route(
                &format!("{path}/{{pipeline}}/stages/{{stage}}"),
                get(one_stage),
            );
    }
    let owners = version.base("owners");
    router
        .route(
            &format!("{pipelines}/{{object}}"),
            any(|Path(object): Path<String>| async move {
                errors::bad_request(format!(
                    "Pipelines are not supported for object type {object}"
                ))
            }),
        )
        // The Python SDK asks for `/crm/v3/owners/`, with the slash.
        .route(&owners, get(owners_page))
        .route(&format!("{owners}/"), get(owners_page))
        .route(&format!("{owners}/{{owner}}"), get(one_owner))
}

fn pipeline(inner: &Inner, id: &str) -> Option<Pipeline> {
    inner
        .portal()
        .pipelines
        .wire()
        .into_iter()
        .find(|p| p.id == id)
}

async fn all_pipelines(State(inner): Shared, RawQuery(raw): RawQuery) -> Response {
    // No pipeline is ever archived here, so `archived=true` lists none.
    let results = if Params::parse(raw).flag("archived") {
        Vec::new()
    } else {
        inner.portal().pipelines.wire()
    };
    Json(NoPaging { results }).into_response()
}

async fn one_pipeline(State(inner): Shared, Path(id): Path<String>) -> Response {
    match pipeline(&inner, &id) {
        Some(p) => Json(p).into_response(),
        None => errors::not_found(),
    }
}

async fn stages(State(inner): Shared, Path(id): Path<String>) -> Response {
    match pipeline(&inner, &id) {
        Some(p) => Json(NoPaging { results: p.stages }).into_response(),
        None => errors::not_found(),
    }
}

async fn one_stage(State(inner): Shared, Path((id, stage)): Path<(String, String)>) -> Response {
    match pipeline(&inner, &id).and_then(|p| p.stages.into_iter().find(|s| s.id == stage)) {
        Some(s) => Json(s).into_response(),
        None => errors::not_found(),
    }
}

async fn owners_page(State(inner): Shared, RawQuery(raw): RawQuery) -> Response {
    let params = Params::parse(raw);
    let limit = match params.limit(OWNERS_PAGE, OWNERS_MAX) {
        Ok(n) => n,
        Err(refusal) => return refusal,
    };
    let from = match params.one("after").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return errors::bad_request("after is not a valid paging token"),
    };
    let archived = params.flag("archived");
    let email = params.one("email").map(str::to_lowercase);
    let portal = inner.portal();
    let matching: Vec<_> = portal
        .owners
        .all()
        .iter()
        .filter(|o| o.archived == archived)
        .filter(|o| email.as_ref().is_none_or(|e| o.email.to_lowercase() == *e))
        .collect();
    let results = matching
        .iter()
        .skip(from)
        .take(limit)
        .map(|o| o.wire())
        .collect();
    let paging = (from + limit < matching.len()).then(|| Paging {
        next: Some(NextPage {
            after: (from + limit).to_string(),
            link: None,
        }),
    });
    Json(OwnerPage { results, paging }).into_response()
}

async fn one_owner(
    State(inner): Shared,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::parse(raw);
    let by_user = params.one("idProperty") == Some("userId");
    let archived = params.flag("archived");
    let portal = inner.portal();
    let found = portal.owners.all().iter().find(|o| {
        o.archived == archived
            && if by_user {
                o.user_id.to_string() == id
            } else {
                o.id == id
            }
    });
    match found {
        Some(o) => Json(o.wire()).into_response(),
        None => errors::not_found(),
    }
}
