"""Display helpers shared by the report and the command line."""


def test_every_option_class_has_a_clinicians_label() -> None:
    from precisionpain.catalog.types import OptionClass
    from precisionpain.explain import display

    missing = [c.value for c in OptionClass if c.value not in display.OPTION_CLASS_LABELS]
    assert not missing, f"option classes without a label (the report and CLI would show an id): {missing}"
    assert display.option_class_label("topical_nsaid") == "Topical NSAID"
    assert "_" not in display.option_class_label("some_new_class")
