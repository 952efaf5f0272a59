//! Pagination for lists: `page` (from 1) and `per_page` (1 to 100, default 50).

use serde::Serialize;

use crate::error::AppError;

pub const DEFAULT_PER_PAGE: i64 = 50;
pub const MAX_PER_PAGE: i64 = 100;

/// A validated page request.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub page: i64,
    pub per_page: i64,
}

impl Page {
    pub fn new(page: Option<i64>, per_page: Option<i64>) -> Result<Self, AppError> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
        if !(1..=1_000_000).contains(&page) {
            return Err(AppError::BadRequest("page must be 1 or more".into()));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(AppError::BadRequest(format!(
                "per_page must be between 1 and {MAX_PER_PAGE}"
            )));
        }
        Ok(Page { page, per_page })
    }

    pub fn limit(self) -> i64 {
        self.per_page
    }

    pub fn offset(self) -> i64 {
        (self.page - 1) * self.per_page
    }

    pub fn of<T: Serialize>(self, items: Vec<T>, total: i64) -> Paged<T> {
        Paged {
            items,
            total,
            page: self.page,
            per_page: self.per_page,
        }
    }
}

/// One page of a list and the total number of matching rows.
#[derive(Debug, Serialize)]
pub struct Paged<T: Serialize> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}
