package main

import (
	"slices"
	"sort"
	"strings"

	"testimony/crypto"
)

// question is one field of the questionnaire, as the answer keys of
// manifest.json name it. The keys are the contract with the witness form.
type question struct {
	key   string
	label string
	multi bool
}

// questions lists the questionnaire's fields in the order a reader expects
// them. Answers under other keys (a later form version) follow, sorted.
var questions = []question{
	{key: "role", label: "Role"},
	{key: "consent_proxy", label: "Consent of the person (proxy report)"},
	{key: "facility", label: "Detention facility"},
	{key: "detention_from", label: "Detained from"},
	{key: "detention_to", label: "Detained until"},
	{key: "conditions", label: "Conditions in detention", multi: true},
	{key: "deport_date", label: "Deportation date"},
	{key: "depart_airport", label: "Departure airport"},
	{key: "transit_country", label: "Transit country"},
	{key: "arrival_airport", label: "Arrival airport"},
	{key: "flight_treatment", label: "Treatment on the flight", multi: true},
	{key: "arrival_questioned", label: "Questioned on arrival"},
	{key: "arrival_detained", label: "Detained on arrival"},
	{key: "charges", label: "Charges"},
	{key: "asylum_case", label: "Asylum case"},
	{key: "account", label: "Account"},
	{key: "consent_use", label: "Consent to use"},
	{key: "contact", label: "Contact"},
}

func questionLabel(key string) string {
	for _, q := range questions {
		if q.key == key {
			return q.label
		}
	}
	return key
}

// answerKeys returns the keys of answers in questionnaire order, then the
// others sorted.
func answerKeys(answers map[string]crypto.Answer) []string {
	var keys, extra []string
	for _, q := range questions {
		if _, ok := answers[q.key]; ok {
			keys = append(keys, q.key)
		}
	}
	for k := range answers {
		if !slices.ContainsFunc(questions, func(q question) bool { return q.key == k }) {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	return append(keys, extra...)
}

// answerText gives an answer as one string: choices joined with "; ".
func answerText(a crypto.Answer) string {
	return strings.Join(a.Values(), "; ")
}

// answer returns the answer to key as text, "" when absent.
func answer(m *crypto.Manifest, key string) string {
	a, ok := m.Answers[key]
	if !ok {
		return ""
	}
	return answerText(a)
}
