package server

import "testimony/form"

// The questionnaire is package form's (form/default.json, or the
// organisation's DATA/questionnaire.json). What the site adds is the
// labels of the yes/no/unsure choices, from its message catalog (w.yes,
// w.no, w.unsure): the embedded catalog's here, a site's own, which may
// hold more languages, in loadWitnessI18n.

// parseQuestionnaire reads and checks a definition, its yes/no choices
// labelled from the embedded catalog.
func parseQuestionnaire(b []byte) (*form.Form, error) {
	q, err := form.Parse(b)
	if err != nil {
		return nil, err
	}
	q.FillYesNo(translate, witnessLangs)
	return q, nil
}

// loadQuestionnaire returns the override in dataDir if there is one, else
// the embedded default, its yes/no choices labelled from the embedded
// catalog.
func loadQuestionnaire(dataDir string) (*form.Form, error) {
	q, err := form.Load(dataDir)
	if err != nil {
		return nil, err
	}
	q.FillYesNo(translate, witnessLangs)
	return q, nil
}
