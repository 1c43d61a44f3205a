"""The working-day calendar (工作日历): PRC public holidays and make-up workdays (调休), staff-kept."""
