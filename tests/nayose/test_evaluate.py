"""Pairwise evaluation of a clusters file against a truth file."""

from __future__ import annotations

from nayose.evaluate import evaluate_files


def test_pairwise_measures_read_files_under_a_folder_with_a_quote(tmp_path):
    folder = tmp_path / "o'brien's exports"
    folder.mkdir()
    clusters = folder / "clusters.csv"
    clusters.write_text("Id,cluster_id,status\nA,A,auto\nB,A,auto\nC,C,single\nD,A,review\n", encoding="utf-8")
    truth = folder / "truth.csv"
    truth.write_text("Id,entity_id\nA,p1\nB,p1\nC,p1\nD,p2\n", encoding="utf-8")
    got = evaluate_files(clusters, truth)
    # predicted pairs AB AD BD, true pairs AB AC BC: one in common
    assert (got["true_pairs"], got["predicted_pairs"], got["true_positives"]) == (3, 3, 1)
    auto = evaluate_files(clusters, truth, auto_only=True)
    assert (auto["predicted_pairs"], auto["true_positives"]) == (1, 1)
