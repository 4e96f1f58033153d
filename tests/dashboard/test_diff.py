"""dashboard.diff: keys added, removed and changed with their paths, arrays by index, JSON's types, the bounds."""

from dashboard.diff import ADDED, CHANGED, MISSING, REMOVED, json_diff, key_path, preview


def listed(diff):
    return [(change.path, change.kind, change.a, change.b) for change in diff.changes]


def test_equal_values_have_no_changes():
    """The same document, however nested, is reported as the same."""
    value = {"a": [1, {"b": None, "c": "x"}], "d": True}
    diff = json_diff(value, {"d": True, "a": [1, {"c": "x", "b": None}]})
    assert diff.same and diff.changes == [] and not diff.truncated


def test_keys_added_removed_and_changed_are_listed_with_paths_in_key_order():
    """A key only in b is added, only in a removed, in both with other values changed; nested keys get dotted paths."""
    a = {"prompt": "cat", "steps": 20, "opts": {"seed": 1, "old": True}}
    b = {"prompt": "dog", "steps": 20, "opts": {"seed": 1, "new": [1]}, "extra": None}
    assert listed(json_diff(a, b)) == [
        ("extra", ADDED, MISSING, None),
        ("opts.new", ADDED, MISSING, [1]),
        ("opts.old", REMOVED, True, MISSING),
        ("prompt", CHANGED, "cat", "dog"),
    ]


def test_arrays_are_compared_index_by_index():
    """Items at the same index are compared; the longer array's extra items are added or removed."""
    assert listed(json_diff({"xs": [1, 2, 3]}, {"xs": [1, 5]})) == [
        ("xs[1]", CHANGED, 2, 5),
        ("xs[2]", REMOVED, 3, MISSING),
    ]
    assert listed(json_diff([{"k": 1}], [{"k": 2}, "new"])) == [
        ("[0].k", CHANGED, 1, 2),
        ("[1]", ADDED, MISSING, "new"),
    ]


def test_json_types_are_told_apart_where_python_would_not():
    """true is not 1, and a number is not its string; but 1 and 1.0 are the same JSON number."""
    assert listed(json_diff({"x": True}, {"x": 1})) == [("x", CHANGED, True, 1)]
    assert listed(json_diff({"x": 1}, {"x": "1"})) == [("x", CHANGED, 1, "1")]
    assert json_diff({"x": 1}, {"x": 1.0}).same


def test_a_value_that_changes_type_is_one_change_at_its_path():
    """An object replaced by an array is a single change, not a change per key."""
    assert listed(json_diff({"x": {"a": 1, "b": 2}}, {"x": [1, 2]})) == [("x", CHANGED, {"a": 1, "b": 2}, [1, 2])]
    assert listed(json_diff("old", {"a": 1})) == [("", CHANGED, "old", {"a": 1})]


def test_keys_that_are_not_identifiers_are_quoted_in_paths():
    """Dots, spaces and quotes in keys cannot be confused with path syntax."""
    assert key_path("", "a.b") == '["a.b"]'
    assert key_path("root", 'say "hi"') == 'root["say \\"hi\\""]'
    assert key_path("root", "plain_key-2") == "root.plain_key-2"
    assert listed(json_diff({"a b": 1}, {"a b": 2})) == [('["a b"]', CHANGED, 1, 2)]


def test_deep_nesting_needs_no_recursion():
    """Two documents nested 5,000 levels deep are compared without hitting Python's recursion limit."""
    a, b = "leaf", "other"
    for _ in range(5_000):
        a, b = {"n": a}, {"n": b}
    diff = json_diff(a, b)
    assert len(diff.changes) == 1 and diff.changes[0].path.count(".") == 4_999


def test_the_number_of_changes_is_bounded_and_says_so():
    """Past max_changes the walk stops and marks the diff truncated."""
    diff = json_diff({"xs": list(range(1_000))}, {"xs": list(range(1, 1_001))}, max_changes=50)
    assert len(diff.changes) == 50 and diff.truncated and not diff.same


def test_a_huge_array_is_cut_at_the_node_budget():
    """A million-item array is not copied whole: the walk reads up to max_nodes values and says it stopped."""
    diff = json_diff({"xs": [0] * 1_000_000}, {"xs": [0] * 999_999 + [1]}, max_nodes=10_000)
    assert diff.truncated and diff.changes == []


def test_counts_by_kind():
    """The page's summary counts each kind of change."""
    diff = json_diff({"a": 1, "b": 2}, {"a": 3, "c": 4})
    assert diff.counts == {CHANGED: 1, ADDED: 1, REMOVED: 1}


def test_previews_are_compact_json_cut_short_and_empty_for_a_missing_side():
    """Values are shown as one line of JSON (escaping is the template's job), long ones cut with their length."""
    assert preview({"a": "<b>", "n": [1, 2]}) == '{"a":"<b>","n":[1,2]}'
    assert preview(MISSING) == ""
    long = preview("x" * 5_000, limit=100)
    assert long.startswith('"xxx') and long.endswith("(5,002 characters)") and len(long) < 130
