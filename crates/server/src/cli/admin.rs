//! `mokdan business add`, `mokdan user add` and `mokdan user set-password`: set-up and
//! recovery without the web app.

use std::io::Read;

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::config::Settings;
use crate::domain::Phone;
use crate::store::{self, Db, users::Role};

#[derive(Subcommand, Debug)]
pub enum BusinessCmd {
    /// Add a business with its first Twilio number; prints the new id.
    Add {
        #[arg(long)]
        name: String,
        /// The business's Twilio number (E.164, or an Israeli local form).
        #[arg(long)]
        phone: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Add a user; the password is read from standard input. Prints the new id.
    Add {
        #[arg(long)]
        email: String,
        /// operator | owner | agent
        #[arg(long)]
        role: String,
        /// The business an owner or agent belongs to.
        #[arg(long)]
        business: Option<i64>,
    },
    /// Reset a user's password (read from standard input) and sign them out everywhere.
    SetPassword {
        #[arg(long)]
        email: String,
    },
}

pub async fn business(settings: Settings, cmd: BusinessCmd) -> anyhow::Result<()> {
    let BusinessCmd::Add { name, phone } = cmd;
    let name = name.trim();
    if name.is_empty() {
        bail!("--name must not be empty");
    }
    let phone = Phone::parse(&phone).map_err(|e| anyhow::anyhow!("--phone: {e}"))?;
    let db = Db::open(settings.database_url.expose()).await?;
    let id = store::businesses::create(&db, name, &phone)
        .await
        .map_err(|e| {
            if store::is_unique_violation(&e) {
                anyhow::anyhow!("--phone: {phone} already belongs to a business")
            } else {
                anyhow::anyhow!("cannot add the business: {e}")
            }
        })?;
    db.close().await;
    println!("{id}");
    Ok(())
}

/// Reads a password from standard input (one line or the whole input, newline trimmed).
fn read_password() -> anyhow::Result<String> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("cannot read the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']).to_string();
    if password.chars().count() < 8 {
        bail!("the password (on standard input) must have at least 8 characters");
    }
    Ok(password)
}

pub async fn user(settings: Settings, cmd: UserCmd) -> anyhow::Result<()> {
    let (email, role, business) = match cmd {
        UserCmd::Add {
            email,
            role,
            business,
        } => (email, role, business),
        UserCmd::SetPassword { email } => return set_password(settings, &email).await,
    };
    let role = Role::parse(&role).context("--role must be operator, owner or agent")?;
    if !email.contains('@') || email.trim().len() < 3 {
        bail!("--email: `{email}` is not an email address");
    }
    match (role, business) {
        (Role::Operator, Some(_)) => bail!("--business: an operator belongs to no business"),
        (Role::Owner | Role::Agent, None) => bail!("--business is required for an owner or agent"),
        _ => {}
    }
    let password = read_password()?;
    let hash = crate::auth::hash_password(&password)?;
    let db = Db::open(settings.database_url.expose()).await?;
    if let Some(b) = business
        && store::businesses::get(&db, b).await?.is_none()
    {
        bail!("--business: no business with id {b}");
    }
    let id = store::users::create(&db, &email, &hash, role, business)
        .await
        .map_err(|e| {
            if store::is_unique_violation(&e) {
                anyhow::anyhow!("--email: a user with that email already exists")
            } else {
                anyhow::anyhow!("cannot add the user: {e}")
            }
        })?;
    db.close().await;
    println!("{id}");
    Ok(())
}

async fn set_password(settings: Settings, email: &str) -> anyhow::Result<()> {
    let password = read_password()?;
    let hash = crate::auth::hash_password(&password)?;
    let db = Db::open(settings.database_url.expose()).await?;
    let Some(id) = store::users::set_password_by_email(&db, email, &hash).await? else {
        db.close().await;
        bail!("--email: no user with that email");
    };
    let revoked = store::sessions::revoke_all_for_user(&db, id).await?;
    store::audit::record(
        &db,
        store::audit::Entry {
            business_id: store::users::get(&db, None, id)
                .await?
                .and_then(|u| u.business_id),
            actor_user_id: None,
            actor_token_id: None,
            entity: "user",
            entity_id: id,
            action: "set_password",
            changes: serde_json::json!({ "password": "changed", "by": "cli" }),
        },
    )
    .await?;
    db.close().await;
    println!("password changed for user {id}; {revoked} session(s) signed out");
    Ok(())
}
