//! The task tree's JSON (`TaskTree::to_json`) parses back, with serde_json, into
//! the same tree: quotes and backslashes escaped, spawn locations and waits kept.

use trio::lowlevel::task_tree;
use trio::testing::wait_all_tasks_blocked;

#[test]
fn json_parses_back_with_the_same_tree() {
    trio::run(async {
        trio::open_nursery(async |n| {
            n.start_soon_named("quote \" and \\ backslash", trio::sleep_forever())?;
            n.start_soon_named("waiter", async {
                trio::open_nursery(async |m| m.start_soon_named("leaf", trio::sleep_forever()))
                    .await
                    .map(drop)
            })?;
            wait_all_tasks_blocked().await?;
            let tree = task_tree();
            let v: serde_json::Value = serde_json::from_str(&tree.to_json()).unwrap();
            let roots = v["tasks"].as_array().unwrap();
            assert_eq!(roots.len(), 1);
            let main = &roots[0];
            assert_eq!(main["name"], "<main>");
            assert_eq!(main["state"], "running");
            assert_eq!(main["system"], false);
            assert_eq!(main["id"], tree.roots[0].id);
            let kids = main["nurseries"][0]["children"].as_array().unwrap();
            assert_eq!(kids[0]["name"], "quote \" and \\ backslash");
            assert_eq!(kids[0]["blocked_on"], "sleep forever");
            assert!(kids[0]["spawned_at"].as_str().unwrap().starts_with(file!()));
            let leaf = &kids[1]["nurseries"][0]["children"][0];
            assert_eq!(leaf["name"], "leaf");
            assert_eq!(leaf["state"], "blocked");
            assert_eq!(
                kids[1]["blocked_on"],
                format!("children of nursery {}", kids[1]["nurseries"][0]["id"])
            );
            n.cancel_scope().cancel();
            Ok(())
        })
        .await
    })
    .unwrap();
}
