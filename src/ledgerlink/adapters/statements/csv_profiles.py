"""Shipped CSV profiles: the exports of common banks, each recognised by its header (or, for the
two that print none, by the shape of its rows) and turned into a `CsvMapping`.

Each profile names its source. "Firefly" is github.com/firefly-iii/import-configurations (the
column roles and date format of that bank's import configuration); "bank2ynab" is
github.com/bank2ynab/bank2ynab, bank2ynab/data/bank2ynab.conf (the section named); "tests" means
the exact header as it appears in several public importers' test data found by code search
(the index did not name one repository to cite). Headers are compared case-insensitively, with
surrounding spaces and quotes ignored; a file may have up to two more columns than the profile
(banks append columns over the years), never fewer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PROFILES", "Profile", "match_header", "match_shape"]

Column = str | int  # a header name, or a position for the headerless exports


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    source: str
    header: tuple[str, ...]  # () for a headerless export, recognised by `shape`
    date: Column
    description: Column
    date_format: str | None = None  # None: detected from the rows (the bank's UI language decides)
    amount: Column | None = None
    debit: Column | None = None
    credit: Column | None = None
    payee: Column | None = None
    id: Column | None = None
    balance: Column | None = None
    value_date: Column | None = None
    currency: Column | None = None
    direction: Column | None = None
    account: Column | None = None
    status: Column | None = None
    negate: bool = False  # money out is written as a positive number
    delimiter: str | None = None
    shape: tuple[str, ...] = ()  # headerless: a pattern each column's cells must match


def _h(line: str, sep: str = ",") -> tuple[str, ...]:
    return tuple(cell.strip().strip('"') for cell in line.split(sep))


# fmt: off
PROFILES: tuple[Profile, ...] = (
    # US ------------------------------------------------------------------------------------
    Profile("chase-checking", "Firefly us/chase/default.json; header: tests",
            _h("Details,Posting Date,Description,Amount,Type,Balance,Check or Slip #"),
            date="Posting Date", date_format="%m/%d/%Y", description="Description", amount="Amount",
            balance="Balance", id="Check or Slip #"),
    Profile("chase-credit", "bank2ynab [US Chase Credit Card 2019]; header: tests",
            _h("Transaction Date,Post Date,Description,Category,Type,Amount,Memo"),
            date="Post Date", value_date="Transaction Date", date_format="%m/%d/%Y",
            description="Description", amount="Amount"),
    Profile("bank-of-america",
            "bank2ynab [US Bank of America] (summary lines, then the table); header: tests",
            _h("Date,Description,Amount,Running Bal."), date="Date", date_format="%m/%d/%Y",
            description="Description", amount="Amount", balance="Running Bal."),
    Profile("bank-of-america-credit", "bank2ynab [US Bank of America Credit Card]; header: tests",
            _h("Posted Date,Reference Number,Payee,Address,Amount"), date="Posted Date",
            date_format="%m/%d/%Y", description="Payee", payee="Payee", id="Reference Number",
            amount="Amount"),
    Profile("wells-fargo",
            "Firefly us/wellsfargo/default.json (no header: date, amount, *, check, description)",
            (), date=0, date_format="%m/%d/%Y", amount=1, description=4, delimiter=",",
            shape=(r"\d{1,2}/\d{1,2}/\d{4}", r"-?\d+(\.\d+)?", r"\*?", r"\d*", r".*")),
    Profile("capital-one", "tests (Transaction Date,Posted Date,Card No.,...,Debit,Credit)",
            _h("Transaction Date,Posted Date,Card No.,Description,Category,Debit,Credit"),
            date="Posted Date", value_date="Transaction Date", description="Description",
            debit="Debit", credit="Credit"),
    Profile("amex", "bank2ynab [NL American Express (AMEX)] (charges positive); header: tests",
            _h("Date,Description,Card Member,Account #,Amount"), date="Date", date_format="%m/%d/%Y",
            description="Description", amount="Amount", negate=True),
    # UK ------------------------------------------------------------------------------------
    Profile("barclays", "Firefly gb/barclays/default.json; header: tests",
            _h("Number,Date,Account,Amount,Subcategory,Memo"), date="Date", date_format="%d/%m/%Y",
            description="Memo", amount="Amount", account="Account"),
    Profile("monzo", "tests (Monzo export since 2019)",
            _h("Transaction ID,Date,Time,Type,Name,Emoji,Category,Amount,Currency,Local amount,"
               "Local currency,Notes and #tags,Address,Receipt,Description,Category split,Money Out,"
               "Money In"),
            date="Date", date_format="%d/%m/%Y", description="Name", payee="Name", amount="Amount",
            currency="Currency", id="Transaction ID"),
    Profile("monzo-2018",
            "Firefly gb/monzo/default.json; bank2ynab [UK Monzo checking] and its test-data "
            "MonzoDataExport_February2018_2018-02-26_174335.csv",
            _h("id,created,amount,currency,local_amount,local_currency,category,emoji,description,"
               "address,notes,receipt"),
            date="created", date_format="%Y-%m-%d", description="description", payee="description",
            amount="amount", currency="currency", id="id"),
    # EU neobanks ---------------------------------------------------------------------------
    Profile("revolut", "bank2ynab [Revolut] (Started Date is the date); header: tests",
            _h("Type,Product,Started Date,Completed Date,Description,Amount,Fee,Currency,State,Balance"),
            date="Started Date", date_format="%Y-%m-%d", value_date="Completed Date",
            description="Description", amount="Amount", currency="Currency", balance="Balance",
            status="State"),
    Profile("n26-de",
            "Firefly de/n26/default.json; bank2ynab [DE N26] (10 columns, amount 7th); header: tests",
            _h('"Datum","Empfänger","Kontonummer","Transaktionstyp","Verwendungszweck","Kategorie",'
               '"Betrag (EUR)","Betrag (Fremdwährung)","Fremdwährung","Wechselkurs"'),
            date="Datum", date_format="%Y-%m-%d", description="Verwendungszweck", payee="Empfänger",
            amount="Betrag (EUR)"),
    Profile("n26", "tests (N26 export in English, 2019-2022)",
            _h("Date,Payee,Account number,Transaction type,Payment reference,Amount (EUR),"
               "Amount (Foreign Currency),Type Foreign Currency,Exchange Rate"),
            date="Date", date_format="%Y-%m-%d", description="Payment reference", payee="Payee",
            amount="Amount (EUR)"),
    Profile("n26-2023", "tests (N26 export since 2023)",
            _h("Booking Date,Value Date,Partner Name,Partner Iban,Type,Payment Reference,Account Name,"
               "Amount (EUR),Original Amount,Original Currency,Exchange Rate"),
            date="Booking Date", value_date="Value Date", date_format="%Y-%m-%d",
            description="Payment Reference", payee="Partner Name", amount="Amount (EUR)"),
    # NL ------------------------------------------------------------------------------------
    Profile("ing-nl",
            "bank2ynab [NL ING Checking 2020] (header in its comment); Firefly nl/ing/default.json",
            _h('"Datum";"Naam / Omschrijving";"Rekening";"Tegenrekening";"Code";"Af Bij";'
               '"Bedrag (EUR)";"Mutatiesoort";"Mededelingen"', ";"),
            date="Datum", date_format="%Y%m%d", description="Mededelingen", payee="Naam / Omschrijving",
            amount="Bedrag (EUR)", direction="Af Bij", account="Rekening"),
    Profile("abn-amro",
            "Firefly nl/abnamro/default.json; github.com/denilsonsa/abn-amro-statement-parser "
            "TXT_SAMPLE.TAB (no header, tab-separated)",
            (), date=2, value_date=5, date_format="%Y%m%d", account=0, currency=1, amount=6,
            description=7, delimiter="\t",
            shape=(r"\d{6,12}", r"[A-Z]{3}", r"\d{8}", r"-?[\d.]*\d,\d\d", r"-?[\d.]*\d,\d\d", r"\d{8}",
                   r"-?[\d.]*\d,\d\d", r".*")),
    Profile("rabobank",
            "bank2ynab [NL Rabobank-2018] (header in its comment); Firefly "
            "nl/rabobank/rabobank-new-csv-format.json",
            _h('"IBAN/BBAN","Munt","BIC","Volgnr","Datum","Rentedatum","Bedrag","Saldo na trn",'
               '"Tegenrekening IBAN/BBAN","Naam tegenpartij","Naam uiteindelijke partij",'
               '"Naam initiërende partij","BIC tegenpartij","Code","Batch ID","Transactiereferentie",'
               '"Machtigingskenmerk","Incassant ID","Betalingskenmerk","Omschrijving-1","Omschrijving-2",'
               '"Omschrijving-3","Reden retour","Oorspr bedrag","Oorspr munt","Koers"'),
            date="Datum", value_date="Rentedatum", date_format="%Y-%m-%d", description="Omschrijving-1",
            payee="Naam tegenpartij", amount="Bedrag", balance="Saldo na trn", currency="Munt",
            account="IBAN/BBAN", id="Volgnr"),
    # DE ------------------------------------------------------------------------------------
    Profile("deutsche-bank",
            "Firefly de/deutschebank/Readme.md (example header); bank2ynab [DE Deutsche Bank]",
            _h("Buchungstag;Wert;Umsatzart;Begünstigter / Auftraggeber;Verwendungszweck;"
               "IBAN / Kontonummer;BIC;Kundenreferenz;Mandatsreferenz;Gläubiger ID;Fremde Gebühren;"
               "Betrag;Abweichender Empfänger;Anzahl der Aufträge;Anzahl der Schecks;Soll;Haben;Währung",
               ";"),
            date="Buchungstag", value_date="Wert", description="Verwendungszweck",
            payee="Begünstigter / Auftraggeber", debit="Soll", credit="Haben", currency="Währung"),
    Profile("sparkasse-camt", "Firefly de/sparkasse/csv-camt52v8.json (CSV-CAMT, 17 columns)",
            _h('"Auftragskonto";"Buchungstag";"Valutadatum";"Buchungstext";"Verwendungszweck";'
               '"Glaeubiger ID";"Mandatsreferenz";"Kundenreferenz (End-to-End)";"Sammlerreferenz";'
               '"Lastschrift Ursprungsbetrag";"Auslagenersatz Ruecklastschrift";'
               '"Beguenstigter/Zahlungspflichtiger";"Kontonummer/IBAN";"BIC (SWIFT-Code)";"Betrag";'
               '"Waehrung";"Info"', ";"),
            date="Buchungstag", value_date="Valutadatum", date_format="%d.%m.%y",
            description="Verwendungszweck", payee="Beguenstigter/Zahlungspflichtiger", amount="Betrag",
            currency="Waehrung", account="Auftragskonto", status="Info"),
    Profile("sparkasse-mt940", "bank2ynab test-data/20180226-1000594757-umsatz.CSV (CSV-MT940)",
            _h('"Auftragskonto";"Buchungstag";"Valutadatum";"Buchungstext";"Verwendungszweck";'
               '"Beguenstigter/Zahlungspflichtiger";"Kontonummer";"BLZ";"Betrag";"Waehrung";"Info"', ";"),
            date="Buchungstag", value_date="Valutadatum", date_format="%d.%m.%y",
            description="Verwendungszweck", payee="Beguenstigter/Zahlungspflichtiger", amount="Betrag",
            currency="Waehrung", account="Auftragskonto", status="Info"),
    Profile("dkb", "tests (DKB export since 2023: 4 preamble lines, then the table)",
            _h('"Buchungsdatum";"Wertstellung";"Status";"Zahlungspflichtige*r";"Zahlungsempfänger*in";'
               '"Verwendungszweck";"Umsatztyp";"IBAN";"Betrag (€)";"Gläubiger-ID";"Mandatsreferenz";'
               '"Kundenreferenz"', ";"),
            date="Buchungsdatum", value_date="Wertstellung", date_format="%d.%m.%y",
            description="Verwendungszweck", payee="Zahlungsempfänger*in", amount="Betrag (€)",
            status="Status"),
    Profile("dkb-legacy", "Firefly de/dkb/csv-giro.json; bank2ynab [DE Deutsche Kreditbank checking]",
            _h('"Buchungstag";"Wertstellung";"Buchungstext";"Auftraggeber / Begünstigter";'
               '"Verwendungszweck";"Kontonummer";"BLZ";"Betrag (EUR)";"Gläubiger-ID";"Mandatsreferenz";'
               '"Kundenreferenz"', ";"),
            date="Buchungstag", value_date="Wertstellung", date_format="%d.%m.%Y",
            description="Verwendungszweck", payee="Auftraggeber / Begünstigter", amount="Betrag (EUR)"),
    Profile("commerzbank", "Firefly de/commerzbank/csv-giro.json; header: tests",
            _h("Buchungstag;Wertstellung;Umsatzart;Buchungstext;Betrag;Währung;Auftraggeberkonto;"
               "Bankleitzahl Auftraggeberkonto;IBAN Auftraggeberkonto;Kategorie", ";"),
            date="Buchungstag", value_date="Wertstellung", date_format="%d.%m.%Y",
            description="Buchungstext", amount="Betrag", currency="Währung",
            account="IBAN Auftraggeberkonto"),
    # ES ------------------------------------------------------------------------------------
    Profile("santander-es",
            "tests (Santander España: FECHA OPERACIÓN;FECHA VALOR;CONCEPTO;IMPORTE EUR;SALDO)",
            _h("FECHA OPERACIÓN;FECHA VALOR;CONCEPTO;IMPORTE EUR;SALDO", ";"), date="FECHA OPERACIÓN",
            value_date="FECHA VALOR", date_format="%d/%m/%Y", description="CONCEPTO",
            amount="IMPORTE EUR", balance="SALDO"),
    Profile("bbva",
            "tests (BBVA: a leading empty column, then Fecha;F.Valor;Concepto;Movimiento;Importe;...)",
            _h(";Fecha;F.Valor;Concepto;Movimiento;Importe;Divisa;Disponible;Divisa;Observaciones", ";"),
            date="Fecha", value_date="F.Valor", date_format="%d/%m/%Y", description="Concepto",
            amount="Importe", currency="Divisa", balance="Disponible"),
)
# fmt: on


def _norm(cell: str) -> str:
    return " ".join(cell.strip().strip('"').strip().lower().split())


def match_header(cells: Sequence[str]) -> Profile | None:
    """The profile whose header this is: every profile column present, in order, with at most
    two more in the file."""
    got = [_norm(c) for c in cells]
    while got and not got[-1]:
        got.pop()
    best: Profile | None = None
    for profile in PROFILES:
        want = [_norm(c) for c in profile.header]
        if not want or len(got) < len(want) or len(got) - len(want) > 2:
            continue
        if got[: len(want)] == want and (best is None or len(want) > len(best.header)):
            best = profile
    return best


def match_shape(rows: Sequence[Sequence[str]], delimiter: str) -> Profile | None:
    """A headerless profile every one of the first rows fits."""
    sample = [r for r in rows[:20] if any(c.strip() for c in r)]
    if not sample:
        return None
    for profile in PROFILES:
        if not profile.shape or profile.delimiter != delimiter:
            continue
        patterns = [re.compile(p) for p in profile.shape]
        if all(
            len(r) == len(patterns) and all(p.fullmatch(c.strip()) for p, c in zip(patterns, r, strict=True))
            for r in sample
        ):
            return profile
    return None
