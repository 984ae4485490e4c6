//! `settlenet demo`: the main job on an embedded default. Starts four validators (one per
//! institution) as real processes on loopback, plays a day in miniature, and prints what happened.

use crate::load::submit_and_wait_all;
use crate::support::height_text;
use crate::txbuild::{random_id, read_key, sign};
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use settlenet_api::client::Client;
use settlenet_api::TxStatus;
use settlenet_crypto::Keypair;
use settlenet_localnet::{init_free, LocalNet};
use settlenet_types::{
    AccountId, Amount, ChargeId, ChargePayer, Currency, Hash, HoldId, Operation, Payee,
    SignedTransaction, TxNonce,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Number of validators.
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Payments in the burst.
    #[arg(long, default_value_t = 400)]
    pub payments: usize,
    /// Keep the network's directory (printed) instead of deleting it.
    #[arg(long)]
    pub keep: bool,
    /// Seed for the scenario's random choices.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

struct User {
    name: &'static str,
    issuer: &'static str,
    phone: &'static str,
    key: Keypair,
    wallet: AccountId,
}

fn usd(minor: i128) -> String {
    settlenet_types::ids::format_signed_minor(minor, 2)
}

pub async fn run(a: DemoArgs) -> Result<()> {
    let started = Instant::now();
    let tmp = tempfile::Builder::new()
        .prefix("settlenet-demo-")
        .tempdir()
        .context("creating a temporary directory")?;
    let dir = tmp.path().to_path_buf();
    say!(
        "SettleNet demo: {} validators on loopback, data in {}",
        a.validators,
        dir.display()
    );
    let entries = init_free(
        &dir,
        settlenet_node::testnet::TestnetOptions {
            validators: a.validators,
            ..Default::default()
        },
    )?;
    for e in &entries {
        say!("  {:6} run by {:15} api {}", e.name, e.member, e.api);
    }
    let exe = std::env::current_exe().context("locating the settlenet binary")?;
    let mut net = LocalNet::start(exe, entries, "warn")?;
    let spinner = ProgressBar::new_spinner();
    spinner.set_message("starting validators (libp2p, RocksDB)...");
    spinner.enable_steady_tick(Duration::from_millis(100));
    net.wait_ready(Duration::from_secs(60)).await?;
    spinner.finish_with_message(format!(
        "all {} validators up and connected ({:.1}s)",
        a.validators,
        started.elapsed().as_secs_f64()
    ));

    let result = scenario(&a, &dir, &mut net).await;
    net.stop();
    if a.keep {
        let kept = tmp.keep();
        say!("Network directory kept at {}", kept.display());
    }
    result
}

async fn scenario(a: &DemoArgs, dir: &std::path::Path, net: &mut LocalNet) -> Result<()> {
    let clients = net.clients()?;
    let genesis = clients[0].genesis().await?;
    let chain = genesis.chain_id.clone();
    let usd_code = Currency(*b"USD");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);

    // 1. Phone-number wallets at two issuers. The nodes turn each number into its alias
    // (HMAC-SHA256 with the consortium key); only the alias goes on the ledger.
    let specs: [(&str, &str, &str); 6] = [
        ("alice", "operator-a", "+250 788 100 001"),
        ("bob", "operator-a", "+250 788 100 002"),
        ("chioma", "operator-a", "+250 788 100 003"),
        ("carol", "bank-a", "+250 722 200 001"),
        ("dave", "bank-a", "+250 722 200 002"),
        ("emeka", "bank-a", "+250 722 200 003"),
    ];
    let users: Vec<User> = specs
        .iter()
        .map(|(name, issuer, phone)| User {
            name,
            issuer,
            phone,
            key: Keypair::generate(),
            wallet: AccountId(random_id()),
        })
        .collect();
    say!(
        "\n1. Opening {} phone wallets at two issuers (operator-a, bank-a); the ledger stores only \
         each number's HMAC alias",
        users.len()
    );
    let mut txs = Vec::new();
    for u in &users {
        let member = genesis
            .member_by_name(u.issuer)
            .context("demo issuer missing from genesis")?;
        let key = read_key(&dir.join("keys").join(u.issuer).join("issuer.key"))?;
        let (alias, alias_key_version) = alias_of(&clients[0], u.phone).await?;
        txs.push(sign(
            &chain,
            &key,
            TxNonce(random_id()),
            Operation::RegisterWallet {
                account: u.wallet,
                issuer: member.id,
                alias,
                alias_key_version,
                owner: u.key.public(),
                currency: usd_code,
                tier: 2,
            },
        )?);
    }
    let results = submit_and_wait_all(&clients, &txs, None).await?;
    for (u, r) in users.iter().zip(&results) {
        say!(
            "   {:7} {} wallet {} at {:10} -> {}",
            u.name,
            masked(u.phone),
            u.wallet,
            u.issuer,
            r
        );
    }

    // 2. Top-ups.
    say!("\n2. Topping up: each issuer issues e-money into its wallets");
    let mut txs = Vec::new();
    let mut topups = Vec::new();
    for u in &users {
        let key = read_key(&dir.join("keys").join(u.issuer).join("issuer.key"))?;
        let amount = Amount(rng.gen_range(100..=500) * 100);
        topups.push(amount);
        txs.push(sign(
            &chain,
            &key,
            TxNonce(random_id()),
            Operation::Issue {
                wallet: u.wallet,
                amount,
            },
        )?);
    }
    let results = submit_and_wait_all(&clients, &txs, None).await?;
    for ((u, amt), r) in users.iter().zip(&topups).zip(&results) {
        say!("   {:7} +{:>8} USD -> {}", u.name, amt.to_decimal(2), r);
    }
    let issued: u64 = topups.iter().map(|a| a.0).sum();

    // 3. A burst of payments between the two issuers' customers, sent to all four nodes.
    say!(
        "\n3. A burst of {} payments between wallets, submitted to every node",
        a.payments
    );
    let mut txs = Vec::new();
    for _ in 0..a.payments {
        let from = rng.gen_range(0..users.len());
        let mut to = rng.gen_range(0..users.len() - 1);
        if to >= from {
            to += 1;
        }
        // Mostly small payments; now and then one larger than a wallet can hold.
        let amount = if rng.gen_bool(0.03) {
            Amount(rng.gen_range(600..900) * 100)
        } else {
            Amount(rng.gen_range(100..2_500))
        };
        txs.push(sign(
            &chain,
            &users[from].key,
            TxNonce(random_id()),
            Operation::Transfer {
                from: users[from].wallet,
                to: users[to].wallet,
                amount,
            },
        )?);
    }
    let bar = ProgressBar::new(txs.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("   {bar:40} {pos}/{len} final {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let t0 = Instant::now();
    let results = submit_and_wait_all(&clients, &txs, Some(&bar)).await?;
    bar.finish_with_message(format!("in {:.2}s", t0.elapsed().as_secs_f64()));
    let mut by_result: BTreeMap<String, usize> = BTreeMap::new();
    for r in &results {
        *by_result.entry(r.clone()).or_default() += 1;
    }
    for (r, n) in &by_result {
        say!("   {n:5} {r}");
    }

    // 4. The seed's flow: a P2P payment across issuers by phone number, and a purchase at a
    // merchant of a third member: authorized, captured (in part), refunded; another voided.
    say!("\n4. Paying by phone number, and a merchant purchase (authorize, capture, refund)");
    let alice = &users[0];
    let carol = &users[3];
    let bob = &users[1];
    let (carol_alias, _) = alias_of(&clients[1], carol.phone).await?;
    let p2p = sign(
        &chain,
        &alice.key,
        TxNonce(random_id()),
        Operation::Pay {
            from: alice.wallet,
            to: Payee::Alias(carol_alias),
            amount: Amount(2_500),
            fee: Some(Amount(10)),
        },
    )?;
    say!(
        "   alice (operator-a) pays carol (bank-a) 25.00 to {} with a 0.10 fee -> {}",
        masked(carol.phone),
        one(&clients[1..], p2p).await?
    );
    let acquirer = genesis
        .member_by_name("bank-b")
        .context("bank-b missing from the genesis")?;
    let acquirer_key = read_key(&dir.join("keys/bank-b/acquirer.key"))?;
    let shop_key = Keypair::generate();
    let shop = AccountId(random_id());
    let register = sign(
        &chain,
        &acquirer_key,
        TxNonce(random_id()),
        Operation::RegisterMerchant {
            account: shop,
            acquirer: acquirer.id,
            owner: shop_key.public(),
            currency: usd_code,
        },
    )?;
    say!(
        "   merchant 'Kigali Coffee' {shop} opened at bank-b -> {}",
        one(&clients, register).await?
    );
    // The purchase: the shop's point of sale asks Bob's phone for 40.00 (a charge request,
    // its payload shown as a QR code), Bob's wallet reads it, checks it and approves it (a
    // hold of exactly that amount), the shop captures.
    let (bob_alias, _) = alias_of(&clients[1], bob.phone).await?;
    let charge = ChargeId(random_id());
    let request = sign(
        &chain,
        &shop_key,
        TxNonce(random_id()),
        Operation::CreateCharge {
            charge,
            merchant: shop,
            amount: Amount(4_000),
            reference: "coffee-0042".into(),
            payer: Some(ChargePayer::Alias(bob_alias)),
            timeout_ms: 300_000,
            hold_timeout_ms: 600_000,
        },
    )?;
    say!(
        "   the shop asks {} for 40.00 (charge {charge}, ref coffee-0042, 5 min) -> {}",
        masked(bob.phone),
        one(&clients, request).await?
    );
    let view = clients[2]
        .charge(charge)
        .await?
        .context("the charge request is not on the ledger")?;
    let payload = settlenet_api::ChargePayload::parse(&view.payload)?;
    payload.check_against(&view)?;
    say!("   its QR payload: {}", view.payload);
    let hold = HoldId(random_id());
    let approve = sign(
        &chain,
        &bob.key,
        TxNonce(random_id()),
        Operation::ApproveCharge {
            charge,
            hold,
            from: bob.wallet,
            amount: Amount(payload.amount_minor),
        },
    )?;
    say!(
        "   bob's phone checks it against the ledger and approves (hold {hold}) -> {}",
        one(&clients[2..], approve).await?
    );
    let capture = sign(
        &chain,
        &shop_key,
        TxNonce(random_id()),
        Operation::Capture {
            hold,
            amount: Amount(3_250),
        },
    )?;
    let capture_id = capture.tx.id;
    say!(
        "   the shop captures 32.50 of it, releasing 7.50 -> {}",
        one(&clients, capture).await?
    );
    if let Some(v) = clients[1].charge(charge).await? {
        say!("   charge {charge} is now {}", v.status);
    }
    let refund = sign(
        &chain,
        &shop_key,
        TxNonce(random_id()),
        Operation::Refund {
            capture: capture_id,
            amount: Amount(500),
        },
    )?;
    say!(
        "   a 5.00 refund (a missing item) -> {}",
        one(&clients[3..], refund).await?
    );
    let over = sign(
        &chain,
        &shop_key,
        TxNonce(random_id()),
        Operation::Refund {
            capture: capture_id,
            amount: Amount(5_000),
        },
    )?;
    say!(
        "   a 50.00 refund of that capture -> {}",
        one(&clients, over).await?
    );
    let hold2 = HoldId(random_id());
    let auth2 = sign(
        &chain,
        &carol.key,
        TxNonce(random_id()),
        Operation::Authorize {
            hold: hold2,
            from: carol.wallet,
            merchant: shop,
            amount: Amount(1_500),
            timeout_ms: 600_000,
        },
    )?;
    let void = sign(
        &chain,
        &shop_key,
        TxNonce(random_id()),
        Operation::Void { hold: hold2 },
    )?;
    say!(
        "   carol authorizes 15.00 -> {}; the shop voids it -> {}",
        one(&clients, auth2).await?,
        one(&clients, void).await?
    );

    // 5. The interbank positions these payments created.
    let positions = clients[0].positions(Some(0)).await?;
    say!(
        "\n5. Interbank positions in settlement window 0 (what each member is owed; + owed to it)"
    );
    for p in &positions.positions {
        say!("   {:15} {:>12} USD", p.member, p.position);
    }
    let usd_total = positions.totals_minor.get("USD").map(String::as_str);
    say!(
        "   sum: {} minor units (every obligation is one member's debit and another's credit)",
        usd_total.unwrap_or("?")
    );
    if usd_total != Some("0") {
        bail!("positions do not sum to zero: {positions:?}");
    }

    // 6. Bad input the network refuses, changing nothing.
    say!("\n6. What the network refuses");
    let mut forged = txs[0].clone();
    forged.tx.op = Operation::Transfer {
        from: users[0].wallet,
        to: users[1].wallet,
        amount: Amount(1_000_000),
    };
    match clients[1].submit(&forged).await {
        Ok(v) => bail!("a forged transaction was accepted: {v:?}"),
        Err(e) => say!(
            "   forged signature     -> refused: {}",
            short(&e.to_string())
                .split("): ")
                .nth(1)
                .unwrap_or("invalid signature")
        ),
    }
    let retry = clients[2].submit(&txs[0]).await?;
    say!(
        "   retry of a paid id   -> {} at height {} (no second payment)",
        retry.status.as_str(),
        height_text(retry.height)
    );
    let thief = Keypair::generate();
    let steal = sign(
        &chain,
        &thief,
        TxNonce(random_id()),
        Operation::Transfer {
            from: users[0].wallet,
            to: users[1].wallet,
            amount: Amount(100),
        },
    )?;
    // A key that owns no wallet can never pay from one: refused at the door (no record, no
    // block space), not executed and rejected.
    match clients[3].submit(&steal).await {
        Ok(v) => bail!("a payment signed by a stranger was not refused at admission: {v:?}"),
        Err(e) => say!(
            "   payment signed by a stranger -> refused at admission: {}",
            short(&e.to_string())
                .split("): ")
                .nth(1)
                .unwrap_or("forbidden_signer")
        ),
    }

    // 7. Final state.
    let status = futures_status(&clients).await?;
    let height = status[0].height.0;
    say!("\n7. Final balances (USD)");
    let mut total: i128 = 0;
    for u in &users {
        let v = clients[0]
            .account(u.wallet)
            .await?
            .with_context(|| format!("no wallet {}", u.wallet))?;
        let bal: i128 = v.balance_minor.parse().unwrap_or(0);
        total += bal;
        say!("   {:7} {:10} {:>10}", u.name, u.issuer, usd(bal));
    }
    // E-money also sits with the merchant and in the issuers' fee accounts.
    for (name, id) in [
        ("shop", shop),
        (
            "fees operator-a",
            AccountId::derived("fees", "operator-a", usd_code),
        ),
        (
            "fees bank-a",
            AccountId::derived("fees", "bank-a", usd_code),
        ),
    ] {
        let bal: i128 = clients[0]
            .account(id)
            .await?
            .and_then(|v| v.balance_minor.parse().ok())
            .unwrap_or(0);
        total += bal;
        say!("   {name:18} {:>10}", usd(bal));
    }
    say!(
        "   total {:>28}  (issued {}: money conserved: {})",
        usd(total),
        usd(issued as i128),
        if total == issued as i128 { "yes" } else { "NO" }
    );
    if total != issued as i128 {
        bail!("money not conserved: wallets hold {total}, issued {issued}");
    }

    // 8. The clearing day, through the same code as the CLI's clearing commands.
    clearing_day(dir, &clients[0]).await?;

    say!("\n9. The four ledgers");
    // Wait until every node has executed the same height.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let s = futures_status(&clients).await?;
        let hs: Vec<u64> = s.iter().map(|v| v.height.0).collect();
        if hs.iter().all(|h| *h == hs[0]) || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut roots = std::collections::BTreeSet::new();
    for v in &status {
        roots.insert(v.state_root.to_string());
        say!(
            "   {:6} height {:4}  state root {}  peers {}",
            v.node,
            v.height.0,
            v.state_root,
            v.peers.len()
        );
    }
    let last = clients[0].block(None).await?;
    say!(
        "   {} blocks; the last ({}) carries a commit certificate signed by {}",
        height.max(last.height.0),
        last.hash,
        last.certificate
            .signatures
            .iter()
            .map(|x| x.validator.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if roots.len() != 1 {
        bail!("the nodes disagree on the state root: {roots:?}");
    }
    say!("   all {} nodes hold the same state root.", status.len());
    say!("\nDemo finished: stopping the validators and removing their data.");
    Ok(())
}

/// The clearing day: close window 0, check and submit a small settlement batch file, show the
/// settlement report, fetch the receipt and verify it offline against the genesis alone.
async fn clearing_day(dir: &std::path::Path, c: &Client) -> Result<()> {
    use crate::commands::batch::{BatchCmd, CheckArgs, FileArgs, PolicyArg, SubmitArgs};
    use crate::commands::receipt::ReceiptCmd;
    use crate::commands::settlement::{ReportArgs, ReportFormat};
    use crate::commands::window::WindowCmd;
    let t = crate::support::Target {
        node: Some(c.base().to_string()),
        testnet: Some(dir.to_path_buf()),
    };
    let read = FileArgs {
        currency: None,
        format: None,
        default_country: None,
    };
    say!(
        "\n8. The clearing day (clearing house staff, `settlenet window|batch|settlement|receipt`)"
    );
    say!("\n$ settlenet window close");
    crate::commands::window::window_cmd(
        &t,
        false,
        WindowCmd::Close {
            currency: None,
            window: None,
            key: None,
            nonce: None,
        },
    )
    .await?;
    // Interbank instructions as a bank's back office sends them: members by name or by BIC.
    let file = dir.join("clearing-day.csv");
    std::fs::write(
        &file,
        "id,debtor,creditor,amount,currency,reference\n\
         ib-0001,BNKARWRWXXX,BNKBRWRWXXX,2500.00,USD,correspondent cover\n\
         ib-0002,bank-b,OPRARWRWXXX,1200.00,USD,agent float top-up\n\
         ib-0003,operator-a,CLRHRWRWXXX,15.75,USD,clearing fees\n",
    )
    .context("writing the demo batch file")?;
    say!("\n$ settlenet batch check clearing-day.csv --genesis genesis.json");
    crate::commands::batch::batch_cmd(
        &t,
        false,
        BatchCmd::Check(CheckArgs {
            file: file.clone(),
            genesis: None,
            read: read.clone(),
            totals_only: false,
        }),
    )
    .await?;
    let batch = settlenet_types::BatchId(random_id());
    let pacs002 = dir.join("clearing-day-pacs002.xml");
    say!("\n$ settlenet batch submit clearing-day.csv --pacs002 clearing-day-pacs002.xml");
    crate::commands::batch::batch_cmd(
        &t,
        false,
        BatchCmd::Submit(SubmitArgs {
            file,
            key: None,
            window: Some(0),
            policy: PolicyArg::Reject,
            id: Some(batch.to_string()),
            pacs002: Some(pacs002),
            chunks_per_request: 4,
            read,
        }),
    )
    .await?;
    say!("\n$ settlenet settlement report --window 0");
    crate::commands::settlement::report(
        &t,
        false,
        ReportArgs {
            window: 0,
            currency: None,
            format: ReportFormat::Text,
        },
    )
    .await?;
    let receipt = dir.join("receipt.json");
    say!("\n$ settlenet receipt get {batch} --out receipt.json");
    crate::commands::receipt::receipt_cmd(
        &t,
        false,
        ReceiptCmd::Get {
            batch: batch.to_string(),
            out: receipt.clone(),
        },
    )
    .await?;
    say!(
        "\n$ settlenet receipt verify receipt.json --genesis genesis.json   (an auditor, offline)"
    );
    crate::commands::receipt::receipt_cmd(
        &t,
        false,
        ReceiptCmd::Verify {
            file: receipt,
            genesis: Some(dir.join("genesis.json")),
        },
    )
    .await?;
    say!(
        "   Window 0 is settled: every member's net position moved between the settlement \
         accounts in one block, and the receipt proves it with the genesis alone."
    );
    Ok(())
}

/// A phone number with its middle hidden, for display ("+250 788 *** 001").
fn masked(phone: &str) -> String {
    // Keep the country code, the first group and the last three digits.
    let n = phone.len();
    phone
        .char_indices()
        .map(|(i, c)| {
            if c.is_ascii_digit() && i >= 9 && i + 4 < n {
                '*'
            } else {
                c
            }
        })
        .collect()
}

/// The alias of a phone number, from a node holding the consortium key.
async fn alias_of(c: &Client, phone: &str) -> Result<(Hash, u16)> {
    let v = c
        .alias(phone, None)
        .await
        .with_context(|| format!("{}: alias refused", c.base()))?;
    Ok((v.alias, v.key_version))
}

/// Submit one transaction to the first of `clients`, wait, and describe its result in words.
async fn one(clients: &[Client], tx: SignedTransaction) -> Result<String> {
    let c = &clients[0];
    let v = c.submit(&tx).await?;
    let v = if v.status == TxStatus::Pending {
        c.wait_tx(tx.tx.id, Duration::from_secs(30)).await?
    } else {
        v
    };
    Ok(match v.status {
        TxStatus::Committed => "ok".to_string(),
        TxStatus::Rejected => format!(
            "rejected: {} ({})",
            v.reason.as_deref().unwrap_or(""),
            v.message.as_deref().unwrap_or("")
        ),
        other => other.as_str().to_string(),
    })
}

fn short(s: &str) -> String {
    s.chars().take(400).collect()
}

async fn futures_status(clients: &[Client]) -> Result<Vec<settlenet_api::Status>> {
    let mut out = Vec::new();
    for c in clients {
        out.push(c.status().await?);
    }
    Ok(out)
}
