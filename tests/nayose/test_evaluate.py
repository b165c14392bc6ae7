"""Pairwise evaluation of a clusters file against a truth file."""

from __future__ import annotations

import pytest

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


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


CLUSTERS = "Id,cluster_id,status\n0035F000000U6YcQAK,0035F000000U6YcQAK,auto\n00Q5F000000f8fdUAA,0035F000000U6YcQAK,auto\n" \
           "00Q5F000000f8feUAA,00Q5F000000f8feUAA,single\n"


def test_a_truth_file_with_15_character_ids_or_in_cp932_counts_the_same(tmp_path):
    """A report export gives 15-character Ids, a business-card tool CP932: the same pairs."""
    clusters = _write(tmp_path / "clusters.csv", CLUSTERS)
    truth = "Id,entity_id\n0035F000000U6YcQAK,山田\n00Q5F000000f8fdUAA,山田\n00Q5F000000f8feUAA,佐藤\n"
    want = evaluate_files(clusters, _write(tmp_path / "t.csv", truth))
    assert (want["true_pairs"], want["true_positives"], want["precision"]) == (1, 1, 1.0)
    short = truth.replace("QAK", "").replace("UAA", "")
    assert evaluate_files(clusters, _write(tmp_path / "t15.csv", short)) == want
    assert evaluate_files(clusters, _write(tmp_path / "t932.csv", truth, "cp932")) == want


@pytest.mark.parametrize("name, clusters, truth, expect", [
    # a file appended to itself: every pair counted four times (precision 9.4) -- now an error
    ("dup_truth", CLUSTERS, "Id,entity_id\nA1,e\nA2,e\nA1,e\n", "t.csv, row 4, column 'Id': Id A1 appears more than once"),
    ("dup_clusters", CLUSTERS + CLUSTERS.split("\n", 1)[1], "Id,entity_id\nA1,e\n", "clusters.csv, row 5, column 'Id'"),
    ("blank_entity", CLUSTERS, "Id,entity_id\nA1,\nA2,\n", "t.csv, row 2, column 'entity_id': empty entity_id"),
    ("no_cluster_id", "Id,cluster\nA1,A1\n", "Id,entity_id\nA1,e\n", "column 'cluster_id': clusters file needs the columns"),
    ("no_entity_id", CLUSTERS, "Id,entity\nA1,e\n", "column 'entity_id': truth file needs the columns Id, entity_id"),
])
def test_bad_labelled_files_are_one_clear_error(tmp_path, name, clusters, truth, expect):
    from nayose.errors import InputError

    with pytest.raises(InputError) as err:
        evaluate_files(_write(tmp_path / "clusters.csv", clusters), _write(tmp_path / "t.csv", truth))
    assert expect in str(err.value), str(err.value)
