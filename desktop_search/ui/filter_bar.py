"""The filter bar under the search field: one control per search filter, generated from the
declarations in ``core/search/filters.py`` (no code per filter here: a new filter of a known
kind of control appears by its declaration alone).

Each :class:`~desktop_search.core.search.filters.Widget` kind has one control class:
:class:`ChoiceControl` (a combo of the values the library offers, with counts),
:class:`DateRangeControl` (the declaration's quick choices, or a from / before pair of dates) and
:class:`FlagControl` (a check box). The bar reports ``changed``; :meth:`FilterBar.values` is what
goes into the ``SearchQuery``.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDateEdit, QHBoxLayout, QLabel, QToolButton, QWidget

from desktop_search.core.search import filters as F

ANY = None
CUSTOM = "custom"


class ChoiceControl(QComboBox):
    """One value out of those the library offers (``PhotoLibrary.filter_choices``)."""

    changed = Signal()

    def __init__(self, spec: F.SearchFilter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.setAccessibleName(spec.label)
        self.setToolTip(spec.help[:1].upper() + spec.help[1:])
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.setMinimumContentsLength(8)
        self.set_choices([])
        self.currentIndexChanged.connect(self.changed)  # signal to signal: no Python slot returning emit()'s bool

    def set_choices(self, choices: list[F.Choice]) -> None:
        """The values on offer now; the chosen one stays chosen while it is offered."""
        current = self.currentData() if self.count() else ANY
        self.blockSignals(True)
        self.clear()
        self.addItem(f"Any {self.spec.label.lower()}", ANY)
        for c in choices:
            self.addItem(c.label if c.count is None else f"{c.label} ({c.count:,})", c.value)
        i = self.findData(current) if current is not None else 0
        self.setCurrentIndex(max(i, 0))
        self.blockSignals(False)
        if current is not None and i < 0:
            self.changed.emit()  # the chosen value is gone (a folder removed): the filter is off

    def value(self) -> Any:
        return self.currentData()

    def reset(self) -> None:
        self.setCurrentIndex(0)


class DateRangeControl(QWidget):
    """Any date, one of the declaration's quick choices, or from / before dates of one's own."""

    changed = Signal()

    def __init__(self, spec: F.SearchFilter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.combo = QComboBox()
        self.combo.setAccessibleName(spec.label)
        self.combo.setToolTip(spec.help[:1].upper() + spec.help[1:])
        self.combo.addItem(f"Any {spec.label.lower()}", ANY)
        for q in spec.quick:
            self.combo.addItem(q.label, q.name)
        self.combo.addItem("Between…", CUSTOM)
        today = QDate.currentDate()
        self.start = self._date_edit("From (this day included)", today.addYears(-1))
        self.end = self._date_edit("Before (this day not included)", today.addDays(1))
        layout.addWidget(self.combo)
        layout.addWidget(self.start)
        layout.addWidget(self.end)
        self.combo.currentIndexChanged.connect(self._mode_changed)
        self._mode_changed()

    def _date_edit(self, tip: str, date: QDate) -> QDateEdit:
        edit = QDateEdit(date)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd")
        edit.setToolTip(tip)
        edit.setAccessibleName(tip)
        edit.dateChanged.connect(self.changed)
        return edit

    def _mode_changed(self, *_: object) -> None:
        custom = self.combo.currentData() == CUSTOM
        self.start.setVisible(custom)
        self.end.setVisible(custom)
        self.changed.emit()

    def value(self) -> F.DateRange | None:
        mode = self.combo.currentData()
        if mode == ANY:
            return None
        if mode == CUSTOM:
            def day(edit: QDateEdit) -> datetime:
                return datetime.combine(edit.date().toPython(), time())  # type: ignore[arg-type]

            return F.DateRange(day(self.start), day(self.end))
        return self.spec.quick_range(mode)

    def reset(self) -> None:
        self.combo.setCurrentIndex(0)


class FlagControl(QCheckBox):
    """On or off."""

    changed = Signal()

    def __init__(self, spec: F.SearchFilter, parent: QWidget | None = None) -> None:
        super().__init__(spec.label, parent)
        self.spec = spec
        self.setToolTip(spec.help[:1].upper() + spec.help[1:])
        self.toggled.connect(self.changed)

    def value(self) -> bool | None:
        return True if self.isChecked() else None

    def reset(self) -> None:
        self.setChecked(False)


#: the control for each kind of filter
CONTROLS: dict[F.Widget, type[ChoiceControl] | type[DateRangeControl] | type[FlagControl]] = {
    F.Widget.CHOICE: ChoiceControl,
    F.Widget.DATE_RANGE: DateRangeControl,
    F.Widget.FLAG: FlagControl,
}


class FilterBar(QWidget):
    """A row of controls, one per declared filter, in declaration order."""

    #: a filter's value changed (not while choices are refreshed, unless a chosen value is gone)
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("filterBar")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 0, 12, 8)
        layout.setSpacing(8)
        layout.addWidget(QLabel("Filters:"))
        self.controls: dict[str, ChoiceControl | DateRangeControl | FlagControl] = {}
        for spec in F.FILTERS:
            control = CONTROLS[spec.widget](spec)
            control.changed.connect(self.changed)
            self.controls[spec.name] = control
            layout.addWidget(control)
        self.clear_button = QToolButton()
        self.clear_button.setText("Clear Filters")
        self.clear_button.setAutoRaise(True)
        self.clear_button.clicked.connect(self.reset)
        layout.addWidget(self.clear_button)
        layout.addStretch(1)

    def choice_filters(self) -> list[str]:
        """The filters whose values come from the library."""
        return [name for name, c in self.controls.items() if isinstance(c, ChoiceControl)]

    def set_choices(self, name: str, choices: list[F.Choice]) -> None:
        control = self.controls[name]
        if isinstance(control, ChoiceControl):
            control.set_choices(choices)

    def values(self) -> dict[str, Any]:
        """The active filters' values, by name (what ``SearchQuery(filters=...)`` takes)."""
        out = {}
        for name, control in self.controls.items():
            value = control.value()
            if value is not None:
                out[name] = value
        return out

    def reset(self) -> None:
        """Every filter off (one ``changed``)."""
        self.blockSignals(True)
        try:
            for control in self.controls.values():
                control.reset()
        finally:
            self.blockSignals(False)
        self.changed.emit()
