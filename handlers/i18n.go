package handlers

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/vitalsdev/vitals/web"
)

// lang is the language of the page: the one the admin picked with the
// switch (remembered in a cookie), else the browser's preference.
func (s *server) lang(c *fiber.Ctx) web.Lang {
	if l, ok := web.ParseLang(c.Cookies(langCookie)); ok {
		return l
	}
	return negotiateLang(c.Get(fiber.HeaderAcceptLanguage))
}

// negotiateLang picks the language vitals speaks that an Accept-Language
// header ranks highest ("ru-RU,ru;q=0.9,en;q=0.8" is Russian), English when
// it names none of them. Among equal weights the earlier one wins.
func negotiateLang(header string) web.Lang {
	best, bestQ := web.English, 0.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(part, ";")
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0
				}
				q = f
			}
		}
		l, ok := web.ParseLang(tag)
		if !ok || q <= bestQ {
			continue
		}
		best, bestQ = l, q
	}
	return best
}
